//! The protocol's messages as JSON: round trips, and what malformed frames are told.

use serde_json::{Value, json};

use super::*;
use crate::error::{ApiError, ErrorCode};

#[test]
fn join_round_trips_with_request_id() {
    let req = ClientRequest::decode(r#"{"type":"join","id":7,"v":1,"token":"abc"}"#).unwrap();
    assert_eq!(req.id, Some(json!(7)));
    assert_eq!(
        req.message,
        ClientMessage::Join {
            v: 1,
            token: "abc".into()
        }
    );
}

#[test]
fn publish_offer_decodes_sources() {
    let text = json!({"type":"publish_offer","sdp":"v=0","tracks":[
        {"mid":"0","source":"microphone"},{"mid":"1","source":"camera","muted":true}]})
    .to_string();
    let ClientMessage::PublishOffer { tracks, .. } = ClientRequest::decode(&text).unwrap().message
    else {
        panic!("wrong variant");
    };
    assert_eq!(tracks[1].source, TrackSource::Camera);
    assert!(tracks[1].muted);
    assert!(!tracks[0].muted);
}

#[test]
fn chat_and_data_decode_with_defaults() {
    let req = ClientRequest::decode(r#"{"type":"chat","text":"hi"}"#).unwrap();
    assert_eq!(
        req.message,
        ClientMessage::Chat {
            text: "hi".into(),
            to: vec![]
        }
    );
    let req = ClientRequest::decode(r#"{"type":"data","payload":"{}","to":["ada"]}"#).unwrap();
    assert_eq!(
        req.message,
        ClientMessage::Data {
            payload: "{}".into(),
            topic: None,
            to: vec!["ada".into()],
            reliable: true
        }
    );
}

#[test]
fn unit_messages_decode() {
    let req = ClientRequest::decode(r#"{"type":"leave"}"#).unwrap();
    assert_eq!(req.message, ClientMessage::Leave);
}

#[test]
fn not_json_is_malformed() {
    let err = ClientRequest::decode("{nope").unwrap_err();
    assert_eq!(err.error.code, ErrorCode::MalformedMessage);
}

#[test]
fn non_object_is_malformed() {
    let err = ClientRequest::decode("[1,2]").unwrap_err();
    assert_eq!(err.error.code, ErrorCode::MalformedMessage);
}

#[test]
fn unknown_type_is_named() {
    let err = ClientRequest::decode(r#"{"type":"teleport","id":"x"}"#).unwrap_err();
    assert_eq!(err.error.code, ErrorCode::UnknownMessage);
    assert_eq!(err.id, Some(json!("x")));
    assert!(err.error.message.contains("teleport"));
}

#[test]
fn known_type_with_bad_fields_is_malformed() {
    let err = ClientRequest::decode(r#"{"type":"mute","track":5}"#).unwrap_err();
    assert_eq!(err.error.code, ErrorCode::MalformedMessage);
}

#[test]
fn oversized_frame_is_refused_before_parsing() {
    let big = format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "a".repeat(MAX_MESSAGE_BYTES)
    );
    let err = ClientRequest::decode(&big).unwrap_err();
    assert_eq!(err.error.code, ErrorCode::MessageTooLarge);
}

#[test]
fn large_sdp_of_a_big_meeting_is_accepted() {
    let sdp = "a=candidate:x\r\n".repeat(8 * 1024);
    let text = json!({"type": "subscribe_answer", "sdp": sdp}).to_string();
    assert!(text.len() > 100 * 1024);
    assert!(ClientRequest::decode(&text).is_ok());
}

#[test]
fn replies_are_flat_objects() {
    let reply = ServerReply::error(
        Some(json!(3)),
        ApiError::new(ErrorCode::PermissionDenied, "No."),
    );
    let value: Value = serde_json::from_str(&reply.to_json()).unwrap();
    assert_eq!(
        value,
        json!({"id":3,"type":"error","code":"permission_denied","message":"No."})
    );
    let back: ServerReply = serde_json::from_value(value).unwrap();
    assert_eq!(back, reply);
}

#[test]
fn events_have_no_id() {
    let text = ServerReply::event(ServerMessage::Pong).to_json();
    assert_eq!(text, r#"{"type":"pong"}"#);
}

#[test]
fn publish_layers_names_each_layer_by_rid() {
    let message = ServerMessage::PublishLayers {
        track: "TR_000001".into(),
        layers: vec![
            LayerActive {
                rid: Some("q".into()),
                active: true,
            },
            LayerActive {
                rid: None,
                active: false,
            },
        ],
    };
    let value: Value = serde_json::from_str(&ServerReply::event(message).to_json()).unwrap();
    assert_eq!(
        value,
        json!({"type":"publish_layers","track":"TR_000001",
               "layers":[{"rid":"q","active":true},{"rid":null,"active":false}]})
    );
}
