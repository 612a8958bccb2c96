//! The configuration read from defaults, files and the environment, and its refusals.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn no_file_is_development_mode_on_localhost() {
    let c = Config::load(None, no_env).unwrap();
    assert!(c.dev_mode);
    assert_eq!(c.http_addr.to_string(), "127.0.0.1:7880");
    assert_eq!(c.udp_addr.port(), 7882);
    assert_eq!(
        (c.api_key.as_str(), c.api_secret.as_str()),
        ("devkey", "secret")
    );
}

const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// Writes `text` as a config file of its own and loads it with `env`.
fn load_file(
    name: &str,
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<Config> {
    let dir = std::env::temp_dir().join(format!("moim-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    Config::load(Some(&path), env)
}

#[test]
fn secret_from_env_leaves_development_mode() {
    let c = Config::load(None, |k| (k == "MOIM_API_SECRET").then(|| SECRET.into())).unwrap();
    assert!(!c.dev_mode);
    assert_eq!(c.api_secret, SECRET);
}

#[test]
fn file_overrides_defaults_and_is_not_dev() {
    let text = format!(
        "http_addr = \"0.0.0.0:8080\"\nudp_addr = \"0.0.0.0:9000\"\nadvertise_ip = \"10.1.2.3\"\nworkers = 4\napi_key = \"k\"\napi_secret = \"{SECRET}\"\n"
    );
    let c = load_file("plain", &text, no_env).unwrap();
    assert!(!c.dev_mode);
    assert_eq!(c.advertised_udp().to_string(), "10.1.2.3:9000");
    assert_eq!(c.turn_listen().to_string(), "0.0.0.0:3478");
    assert_eq!(c.workers, 4);
}

#[test]
fn the_ladder_comes_from_the_file_or_the_environment_and_is_checked() {
    assert_eq!(
        Config::load(None, no_env).unwrap().broadcast_rungs,
        Rung::DEFAULTS
    );
    let text = "[[broadcast_rungs]]\nname = \"low\"\nheight = 240\nvideo_kbps = 400\n";
    let c = load_file("rungs", text, |k| {
        (k == "MOIM_DEV_MODE").then(|| "1".into())
    })
    .unwrap();
    assert_eq!(c.broadcast_rungs.len(), 1);
    assert_eq!(
        (&*c.broadcast_rungs[0].name, c.broadcast_rungs[0].height),
        ("low", 240)
    );
    let from = |v: &'static str| {
        Config::load(None, move |k| {
            (k == "MOIM_BROADCAST_RUNGS").then(|| v.to_owned())
        })
    };
    let c = from("sd:480:1000, uhd:2160:16000").unwrap();
    assert_eq!(c.broadcast_rungs[1].video_kbps, 16_000);
    for (bad, said) in [
        ("sd:480", "name:height:video_kbps"),
        ("sd:tall:1000", "name:height:video_kbps"),
        ("s/d:480:1000", "letters, digits"),
        ("sd:480:1000,sd:720:2500", "listed twice"),
        ("sd:100:1000", "144 to 4320"),
        ("sd:480:10", "100 to 100000"),
    ] {
        let err = format!("{:#}", from(bad).unwrap_err());
        assert!(err.contains(said), "{bad}: {err}");
    }
}

#[test]
fn a_comment_about_dev_mode_does_not_turn_it_on() {
    let text =
        format!("# dev_mode = true would mint tokens for anyone\napi_secret = \"{SECRET}\"\n");
    assert!(!load_file("comment", &text, no_env).unwrap().dev_mode);
    let text = format!("dev_mode = true\napi_secret = \"{SECRET}\"\n");
    assert!(load_file("asked", &text, no_env).unwrap().dev_mode);
}

#[test]
fn a_short_secret_is_refused_outside_development_mode() {
    let err =
        Config::load(None, |k| (k == "MOIM_API_SECRET").then(|| "s3cr3t".into())).unwrap_err();
    assert!(err.to_string().contains("at least 32"), "{err}");
}

#[test]
fn development_mode_stays_on_loopback_unless_exposed() {
    let on = |k: &str| (k == "MOIM_HTTP_ADDR").then(|| "0.0.0.0:7880".to_owned());
    let err = Config::load(None, on).unwrap_err();
    assert!(err.to_string().contains("expose_dev_mode"), "{err}");
    let exposed = Config::load(None, |k| match k {
        "MOIM_HTTP_ADDR" => Some("0.0.0.0:7880".into()),
        "MOIM_EXPOSE_DEV_MODE" => Some("1".into()),
        _ => None,
    })
    .unwrap();
    assert!(exposed.dev_mode_exposed());
    assert!(!Config::load(None, no_env).unwrap().dev_mode_exposed());
    let rtmp = |k: &str| (k == "MOIM_RTMP_ADDR").then(|| "0.0.0.0:1935".to_owned());
    let err = Config::load(None, rtmp).unwrap_err();
    assert!(err.to_string().contains("rtmp_addr"), "{err}");
}

#[test]
fn rtmp_listens_on_loopback_port_1935_by_default() {
    let c = Config::load(None, no_env).unwrap();
    assert_eq!(c.rtmp_addr, SocketAddr::from(([127, 0, 0, 1], 1935)));
    let err = Config::load(None, |k| (k == "MOIM_RTMP_ADDR").then(|| "1935".into()));
    assert!(err.unwrap_err().to_string().contains("MOIM_RTMP_ADDR"));
}

#[test]
fn turn_is_embedded_unless_external_urls_are_given() {
    let c = Config::load(None, |_| None).unwrap();
    assert!(c.embedded_turn());
    assert_eq!(c.turn_listen().to_string(), "127.0.0.1:3478");
    let external = Config::load(None, |k| match k {
        "MOIM_TURN_URLS" => Some(
            "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:443?transport=tcp"
                .into(),
        ),
        "MOIM_TURN_SECRET" => Some("coturn static-auth-secret".into()),
        _ => None,
    })
    .unwrap();
    assert!(!external.embedded_turn());
    assert_eq!(external.turn_urls.len(), 2);
    let half_tls = Config::load(None, |k| (k == "MOIM_TLS_CERT").then(|| "cert.pem".into()));
    assert!(half_tls.unwrap_err().to_string().contains("tls_key"));
    let exposed_turn = Config::load(None, |k| {
        (k == "MOIM_TURN_ADDR").then(|| "0.0.0.0:3478".into())
    });
    assert!(exposed_turn.unwrap_err().to_string().contains("turn_addr"));
}

#[test]
fn bandwidth_estimation_is_on_unless_turned_off() {
    assert!(Config::load(None, |_| None).unwrap().bandwidth_estimation);
    let off = Config::load(None, |k| {
        (k == "MOIM_BANDWIDTH_ESTIMATION").then(|| "0".into())
    });
    assert!(!off.unwrap().bandwidth_estimation);
    let file = load_file(
        "bwe",
        "bandwidth_estimation = false\ndev_mode = true\n",
        |_| None,
    );
    assert!(!file.unwrap().bandwidth_estimation);
    assert!(Config::load(None, |_| None).unwrap().audio_red);
    let red = Config::load(None, |k| (k == "MOIM_AUDIO_RED").then(|| "0".into()));
    assert!(!red.unwrap().audio_red);
}

#[test]
fn frames_are_forwarded_as_shared_packets_unless_set_to_frames() {
    assert_eq!(
        Config::load(None, |_| None).unwrap().forwarding,
        Forwarding::Packets
    );
    let file = load_file("fwd", "forwarding = \"frames\"\ndev_mode = true\n", |_| {
        None
    });
    assert_eq!(file.unwrap().forwarding, Forwarding::Frames);
    let env = Config::load(None, |k| (k == "MOIM_FORWARDING").then(|| "frames".into()));
    assert_eq!(env.unwrap().forwarding, Forwarding::Frames);
    let nonsense = Config::load(None, |k| (k == "MOIM_FORWARDING").then(|| "rtp".into()));
    let error = nonsense.unwrap_err().to_string();
    assert!(error.contains("`frames` or `packets`"), "{error}");
}

#[test]
fn a_certificate_makes_the_http_port_https_and_the_redirect_needs_one() {
    let plain = Config::load(None, |_| None).unwrap();
    assert!(!plain.tls());
    let with = |extra: &'static [(&'static str, &'static str)]| {
        Config::load(None, move |k| {
            let base = [
                ("MOIM_TLS_CERT", "/etc/moim/cert.pem"),
                ("MOIM_TLS_KEY", "/etc/moim/key.pem"),
            ];
            base.iter()
                .chain(extra)
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
    };
    let tls = with(&[]).unwrap();
    assert!(tls.tls());
    assert_eq!(tls.public_url(), "https://127.0.0.1:7880");
    let redirect = with(&[("MOIM_HTTP_REDIRECT_ADDR", "127.0.0.1:8080")]).unwrap();
    assert_eq!(
        redirect.http_redirect_addr,
        Some("127.0.0.1:8080".parse().unwrap())
    );
    let alone = Config::load(None, |k| {
        (k == "MOIM_HTTP_REDIRECT_ADDR").then(|| "127.0.0.1:8080".into())
    });
    let error = alone.unwrap_err().to_string();
    assert!(error.contains("needs tls_cert and tls_key"), "{error}");
}

#[test]
fn cluster_settings_and_the_url_this_node_is_reached_at() {
    let alone = Config::load(None, |_| None).unwrap();
    assert_eq!(alone.redis_url, None);
    assert_eq!(alone.public_url(), "http://127.0.0.1:7880");
    let env = |k: &str| match k {
        "MOIM_REDIS_URL" => Some("redis://10.0.0.5:6379".into()),
        "MOIM_NODE_ID" => Some("eu-1".into()),
        "MOIM_REGION" => Some("eu".into()),
        "MOIM_PUBLIC_URL" => Some("https://eu-1.meet.example.org/".into()),
        _ => None,
    };
    let node = Config::load(None, env).unwrap();
    assert_eq!(node.redis_url.as_deref(), Some("redis://10.0.0.5:6379"));
    assert_eq!(
        (node.node_id.as_deref(), node.region.as_deref()),
        (Some("eu-1"), Some("eu"))
    );
    assert_eq!(node.public_url(), "https://eu-1.meet.example.org");
    for (key, value, says) in [
        (
            "MOIM_REDIS_URL",
            "10.0.0.5:6379",
            "redis_url must be a redis://",
        ),
        (
            "MOIM_PUBLIC_URL",
            "meet.example.org",
            "public_url must start with http",
        ),
        ("MOIM_NODE_ID", "eu 1", "node_id must be"),
    ] {
        let err = Config::load(None, |k| (k == key).then(|| value.into())).unwrap_err();
        assert!(format!("{err:#}").contains(says), "{err:#}");
    }
}

#[test]
fn workers_from_env_and_a_clear_error_for_nonsense() {
    let c = Config::load(None, |k| (k == "MOIM_WORKERS").then(|| "3".into())).unwrap();
    assert_eq!(c.workers, 3);
    let err = Config::load(None, |k| (k == "MOIM_WORKERS").then(|| "many".into())).unwrap_err();
    assert!(err.to_string().contains("MOIM_WORKERS"));
    let err = Config::load(None, |k| (k == "MOIM_WORKERS").then(|| "1000".into())).unwrap_err();
    assert!(err.to_string().contains("at most") || err.to_string().contains("more than"));
}

#[test]
fn wildcard_udp_needs_an_advertised_ip() {
    let err = Config::load(None, |k| match k {
        "MOIM_UDP_ADDR" => Some("0.0.0.0:7882".into()),
        "MOIM_API_SECRET" => Some(SECRET.into()),
        _ => None,
    })
    .unwrap_err();
    assert!(err.to_string().contains("advertise_ip"), "{err}");
}

#[test]
fn dev_secret_outside_dev_mode_is_refused() {
    let err = Config::load(None, |k| (k == "MOIM_DEV_MODE").then(|| "false".into())).unwrap_err();
    assert!(err.to_string().contains("development secret"));
}

#[test]
fn webhook_urls_come_from_the_file_or_a_list_and_must_be_http() {
    let c = load_file(
        "hooks.toml",
        &format!("api_secret = \"{SECRET}\"\nwebhook_urls = [\"https://a.example/h\"]\n"),
        no_env,
    )
    .unwrap();
    assert_eq!(c.webhook_urls, ["https://a.example/h"]);
    let env = |k: &str| (k == "MOIM_WEBHOOK_URLS").then(|| " http://a/x , https://b/y ".into());
    let c = Config::load(None, env).unwrap();
    assert_eq!(c.webhook_urls, ["http://a/x", "https://b/y"]);
    let env = |k: &str| (k == "MOIM_WEBHOOK_URLS").then(|| "ftp://a/x".into());
    let e = Config::load(None, env).unwrap_err();
    assert!(format!("{e:#}").contains("http:// or https://"), "{e:#}");
}
