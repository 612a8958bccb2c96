//! Each command of the client: its requests, and the table or sentence it prints.

use anyhow::bail;
use serde_json::{Value, json};

use super::table::table;
use super::{Api, BroadcastCmd, Command, Grant, ParticipantCmd, RecordCmd, RoomCmd};
use crate::state::unix_millis;

/// Runs `command`; what to print.
pub async fn run(api: &Api, command: Command) -> anyhow::Result<String> {
    match command {
        Command::Room(cmd) => room(api, cmd).await,
        Command::Participant(cmd) => participant(api, cmd).await,
        Command::Record(cmd) => record(api, cmd).await,
        Command::Broadcast(cmd) => broadcast(api, cmd).await,
    }
}

async fn room(api: &Api, cmd: RoomCmd) -> anyhow::Result<String> {
    match cmd {
        RoomCmd::List => {
            let rooms = all_pages(api, "/api/rooms", "rooms", Grant::Server).await?;
            Ok(api.print(&json!({ "rooms": rooms }), |_| rooms_table(&rooms)))
        }
        RoomCmd::Create {
            name,
            max_participants,
            empty_timeout,
            waiting_room,
            locked,
            audio,
        } => {
            let mut body = json!({ "name": name, "waiting_room": waiting_room, "locked": locked });
            if audio {
                body["mode"] = json!("audio");
            }
            if let Some(n) = max_participants {
                body["max_participants"] = json!(n);
            }
            if let Some(s) = empty_timeout {
                body["empty_timeout"] = json!(s);
            }
            let room = api.call("POST", "/api/rooms", Grant::Server, &body).await?;
            Ok(api.print(&room, |r| rooms_table(std::slice::from_ref(r))))
        }
        RoomCmd::Show { name } => {
            let path = format!("/api/rooms/{name}");
            let room = api
                .call("GET", &path, Grant::Room(&name), &Value::Null)
                .await?;
            Ok(api.print(&room, |r| rooms_table(std::slice::from_ref(r))))
        }
        RoomCmd::Delete { name } => {
            let path = format!("/api/rooms/{name}");
            api.call("DELETE", &path, Grant::Room(&name), &Value::Null)
                .await?;
            Ok(api.print(&Value::Null, |_| format!("Room {name} ended.")))
        }
    }
}

async fn participant(api: &Api, cmd: ParticipantCmd) -> anyhow::Result<String> {
    match cmd {
        ParticipantCmd::List { room } => {
            let path = format!("/api/rooms/{room}/participants");
            let everyone = all_pages(api, &path, "participants", Grant::Room(&room)).await?;
            Ok(api.print(&json!({ "participants": everyone }), |_| {
                participants_table(&everyone)
            }))
        }
        ParticipantCmd::Remove {
            room,
            identity,
            ban,
        } => {
            let path = format!("/api/rooms/{room}/participants/{identity}?ban={ban}");
            api.call("DELETE", &path, Grant::Room(&room), &Value::Null)
                .await?;
            let how = if ban { "removed and banned" } else { "removed" };
            Ok(api.print(&Value::Null, |_| format!("{identity} {how} from {room}.")))
        }
        ParticipantCmd::Mute {
            room,
            identity,
            track,
            unmute,
            lock,
        } => {
            let path = format!("/api/rooms/{room}/participants/{identity}");
            let p = api
                .call("GET", &path, Grant::Room(&room), &Value::Null)
                .await?;
            let tracks: Vec<&Value> = p["tracks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| {
                    t["sid"] == track.as_str()
                        || t["source"] == track.as_str()
                        || t["kind"] == track.as_str()
                })
                .collect();
            if tracks.is_empty() {
                bail!(
                    "{identity} publishes no track {track} (a sid, a source such as camera, or audio or video)"
                );
            }
            let mut done = Vec::new();
            for t in tracks {
                let body = json!({ "track": t["sid"], "muted": !unmute, "lock": lock });
                api.call("POST", &format!("{path}/mute"), Grant::Room(&room), &body)
                    .await?;
                done.push(format!("{} ({})", text(&t["source"]), text(&t["sid"])));
            }
            let what = if unmute { "May unmute" } else { "Muted" };
            Ok(api.print(&Value::Null, |_| {
                format!("{what} {} of {identity}.", done.join(", "))
            }))
        }
    }
}

async fn record(api: &Api, cmd: RecordCmd) -> anyhow::Result<String> {
    match cmd {
        RecordCmd::Start { room, kind } => {
            let path = format!("/api/rooms/{room}/recordings");
            let body = json!({ "kind": kind });
            let started = api.call("POST", &path, Grant::Room(&room), &body).await?;
            Ok(api.print(&started, |r| {
                format!(
                    "Recording {} ({}) of {room} started.",
                    text(&r["id"]),
                    text(&r["kind"])
                )
            }))
        }
        RecordCmd::Stop { room, id } => {
            let id = match id {
                Some(id) => id,
                None => {
                    let path = format!("/api/rooms/{room}");
                    let r = api
                        .call("GET", &path, Grant::Room(&room), &Value::Null)
                        .await?;
                    match r["recording"]["id"].as_str() {
                        Some(id) => id.to_owned(),
                        None => bail!("No recording runs in {room}."),
                    }
                }
            };
            let path = format!("/api/rooms/{room}/recordings/{id}");
            let manifest = api
                .call("DELETE", &path, Grant::Room(&room), &Value::Null)
                .await?;
            Ok(api.print(&manifest, |m| recordings_table(std::slice::from_ref(m))))
        }
        RecordCmd::List { room } => {
            let path = format!("/api/rooms/{room}/recordings");
            let list = api
                .call("GET", &path, Grant::Room(&room), &Value::Null)
                .await?;
            Ok(api.print(&list, |l| {
                recordings_table(l["recordings"].as_array().map_or(&[], Vec::as_slice))
            }))
        }
    }
}

async fn broadcast(api: &Api, cmd: BroadcastCmd) -> anyhow::Result<String> {
    match cmd {
        BroadcastCmd::Start {
            room,
            source,
            public,
            rtmp,
        } => {
            let mut body = json!({ "source": source, "public": public });
            if let Some(url) = rtmp {
                body["outputs"] = json!(["hls", "rtmp"]);
                body["rtmp_url"] = json!(url);
            }
            let path = format!("/api/rooms/{room}/broadcasts");
            let started = api.call("POST", &path, Grant::Room(&room), &body).await?;
            Ok(api.print(&started, |b| broadcasts_table(std::slice::from_ref(b))))
        }
        BroadcastCmd::Stop { room, id } => {
            let id = match id {
                Some(id) => id,
                None => {
                    let path = format!("/api/rooms/{room}/broadcasts");
                    let list = api
                        .call("GET", &path, Grant::Room(&room), &Value::Null)
                        .await?;
                    let running = list["broadcasts"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|b| b["state"] != "ended");
                    match running.and_then(|b| b["id"].as_str()) {
                        Some(id) => id.to_owned(),
                        None => bail!("No broadcast runs in {room}."),
                    }
                }
            };
            let path = format!("/api/rooms/{room}/broadcasts/{id}");
            let ended = api
                .call("DELETE", &path, Grant::Room(&room), &Value::Null)
                .await?;
            Ok(api.print(&ended, |b| broadcasts_table(std::slice::from_ref(b))))
        }
        BroadcastCmd::List { room } => {
            let path = format!("/api/rooms/{room}/broadcasts");
            let list = api
                .call("GET", &path, Grant::Room(&room), &Value::Null)
                .await?;
            Ok(api.print(&list, |l| {
                broadcasts_table(l["broadcasts"].as_array().map_or(&[], Vec::as_slice))
            }))
        }
    }
}

/// Every item of a paged list (`key` names it in each page).
async fn all_pages(
    api: &Api,
    path: &str,
    key: &str,
    grant: Grant<'_>,
) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page_path = match &after {
            Some(after) => format!("{path}?limit=1000&after={after}"),
            None => format!("{path}?limit=1000"),
        };
        let page = api.call("GET", &page_path, grant, &Value::Null).await?;
        items.extend(page[key].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return Ok(items),
        }
    }
}

fn rooms_table(rooms: &[Value]) -> String {
    let rows: Vec<Vec<String>> = rooms
        .iter()
        .map(|r| {
            let s = &r["settings"];
            let max = s["max_participants"].as_u64().filter(|n| *n > 0);
            let mut door = Vec::new();
            if s["locked"] == true {
                door.push("locked");
            }
            if s["waiting_room"] == true {
                door.push("waiting room");
            }
            if s["mode"] == "audio" {
                door.push("audio");
            }
            vec![
                text(&r["name"]),
                match max {
                    Some(max) => format!("{}/{max}", r["participants"]),
                    None => r["participants"].to_string(),
                },
                r["waiting"].to_string(),
                door.join(", "),
                on_off(&r["recording"]),
                on_off(&r["broadcast"]),
                age(&r["created_at"]),
            ]
        })
        .collect();
    table(
        &[
            "NAME",
            "PARTICIPANTS",
            "WAITING",
            "DOOR",
            "RECORDING",
            "LIVE",
            "UP",
        ],
        &rows,
    )
}

fn participants_table(everyone: &[Value]) -> String {
    let rows: Vec<Vec<String>> = everyone
        .iter()
        .map(|p| {
            let tracks: Vec<String> = p["tracks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let muted = if t["muted"] == true { " (muted)" } else { "" };
                    format!("{}{muted}", text(&t["source"]))
                })
                .collect();
            vec![
                text(&p["identity"]),
                text(&p["name"]),
                text(&p["role"]),
                tracks.join(", "),
                p["quality"].as_str().unwrap_or("").to_owned(),
                p["stats"]["rtt_ms"]
                    .as_u64()
                    .map_or(String::new(), |ms| format!("{ms} ms")),
                age(&p["joined_at"]),
            ]
        })
        .collect();
    table(
        &[
            "IDENTITY", "NAME", "ROLE", "TRACKS", "QUALITY", "RTT", "IN FOR",
        ],
        &rows,
    )
}

fn recordings_table(recordings: &[Value]) -> String {
    let rows: Vec<Vec<String>> = recordings
        .iter()
        .map(|m| {
            let started = m["started_at"].as_u64().unwrap_or(0);
            let length = m["ended_at"]
                .as_u64()
                .map_or(String::new(), |end| duration(end.saturating_sub(started)));
            let files: Vec<String> = m["files"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| text(&f["file"]))
                .collect();
            vec![
                text(&m["id"]),
                text(&m["kind"]),
                text(&m["status"]),
                age(&m["started_at"]),
                length,
                files.join(", "),
            ]
        })
        .collect();
    table(
        &["ID", "KIND", "STATUS", "STARTED", "LENGTH", "FILES"],
        &rows,
    )
}

fn broadcasts_table(broadcasts: &[Value]) -> String {
    let rows: Vec<Vec<String>> = broadcasts
        .iter()
        .map(|b| {
            vec![
                text(&b["id"]),
                text(&b["source"]),
                text(&b["state"]),
                if b["public"] == true {
                    "public"
                } else {
                    "private"
                }
                .to_owned(),
                text(&b["playback"]["watch"]),
            ]
        })
        .collect();
    table(&["ID", "SOURCE", "STATE", "WHO", "WATCH"], &rows)
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn on_off(v: &Value) -> String {
    if v.is_null() { "" } else { "yes" }.to_owned()
}

/// How long ago `millis` (since the Unix epoch) was, in a few characters.
fn age(millis: &Value) -> String {
    millis
        .as_u64()
        .map_or(String::new(), |t| duration(unix_millis().saturating_sub(t)))
}

fn duration(millis: u64) -> String {
    let s = millis / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, s % 3600 / 60),
    }
}
