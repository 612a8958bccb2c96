//! A node as the cluster sees it: who it is, where clients reach it, how loaded it is;
//! and the choice of the node a new room goes to.

use serde::{Deserialize, Serialize};

/// One Moim process of the cluster, as it registers itself with every heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeInfo {
    /// Its name, unique in the cluster.
    pub id: String,
    /// Where clients reach its web app, signaling and API (`http://…` or `https://…`).
    pub url: String,
    /// Where its media sessions are reached (the advertised UDP address).
    pub media: String,
    /// The label of where it runs, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Its version.
    pub version: String,
    /// When it started, in milliseconds since the Unix epoch.
    pub started: u64,
    /// When it last registered, in milliseconds since the Unix epoch (its own clock).
    pub heartbeat: u64,
    /// How busy it is.
    pub load: Load,
    /// It is going away: no room is placed on it, and its clients are moving off.
    #[serde(default)]
    pub draining: bool,
}

impl NodeInfo {
    /// The signaling WebSocket URL of the node.
    pub fn signal_url(&self) -> String {
        let ws = if let Some(rest) = self.url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            format!("ws://{}", self.url.trim_start_matches("http://"))
        };
        format!("{ws}/rtc")
    }
}

/// What a node carries, measured at its latest heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Load {
    /// Rooms running on it.
    pub rooms: u64,
    /// Participants in those rooms.
    pub participants: u64,
    /// Published tracks.
    pub tracks: u64,
    /// Its share of the machine's CPU since the previous heartbeat, 0 to 100 per cent.
    pub cpu: f64,
    /// Media datagrams it sent per second since the previous heartbeat.
    pub packets_per_second: u64,
}

impl Load {
    /// What placement compares: people and rooms first (each room will grow), CPU to
    /// break ties.
    fn weight(&self) -> (u64, u64) {
        (self.participants + self.rooms, self.cpu.round() as u64)
    }
}

/// The node a new room goes to: the least loaded of the `live` nodes that are not
/// draining, among those of `region` when any is alive (the region of the node the client
/// reached, which a geographic load balancer chose for it).
pub fn least_loaded<'a>(live: &'a [NodeInfo], region: Option<&str>) -> Option<&'a NodeInfo> {
    let open: Vec<&NodeInfo> = live.iter().filter(|n| !n.draining).collect();
    let in_region = |n: &&&NodeInfo| region.is_some() && n.region.as_deref() == region;
    let pool: Vec<&NodeInfo> = if open.iter().any(|n| in_region(&n)) {
        open.iter().filter(in_region).copied().collect()
    } else {
        open
    };
    pool.into_iter()
        .min_by_key(|n| (n.load.weight(), n.id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, region: Option<&str>, participants: u64, cpu: f64) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            url: format!("http://{id}:7880"),
            media: "127.0.0.1:7882".into(),
            region: region.map(str::to_owned),
            version: "0".into(),
            started: 0,
            heartbeat: 0,
            load: Load {
                participants,
                cpu,
                ..Load::default()
            },
            draining: false,
        }
    }

    #[test]
    fn a_room_goes_to_the_node_with_the_fewest_people_then_the_least_cpu() {
        let live = [
            node("a", None, 12, 5.0),
            node("b", None, 3, 40.0),
            node("c", None, 3, 10.0),
        ];
        assert_eq!(least_loaded(&live, None).unwrap().id, "c");
        assert!(least_loaded(&[], None).is_none());
        let mut leaving = live.clone();
        leaving[2].draining = true;
        assert_eq!(
            least_loaded(&leaving, None).unwrap().id,
            "b",
            "a draining node takes no room"
        );
    }

    #[test]
    fn a_node_of_the_region_is_preferred_while_one_is_alive() {
        let live = [
            node("eu", Some("eu"), 50, 60.0),
            node("us", Some("us"), 0, 0.0),
        ];
        assert_eq!(least_loaded(&live, Some("eu")).unwrap().id, "eu");
        assert_eq!(least_loaded(&live, Some("ap")).unwrap().id, "us");
        assert_eq!(least_loaded(&live, None).unwrap().id, "us");
    }

    #[test]
    fn signaling_urls_follow_the_scheme() {
        let mut n = node("a", None, 0, 0.0);
        assert_eq!(n.signal_url(), "ws://a:7880/rtc");
        n.url = "https://meet.example.org".into();
        assert_eq!(n.signal_url(), "wss://meet.example.org/rtc");
    }
}
