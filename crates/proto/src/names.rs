//! What room names, identities and display names may be. Every token is checked against
//! these rules ([`crate::token::Keys::verify`]), so nothing else in the server meets a
//! name it cannot put in a URL path, a file name, a header or a log line.

use crate::error::{ApiError, ErrorCode};

/// The longest room name, in characters.
pub const MAX_ROOM: usize = 64;
/// The longest identity, in characters.
pub const MAX_IDENTITY: usize = 128;
/// The longest display name, in characters.
pub const MAX_NAME: usize = 128;

/// A room name is 1 to 64 ASCII letters, digits, `-`, `_` or `.`, starting with a letter
/// or digit: it goes unescaped into URL paths (`/r/{room}`, `/whip/{room}`) and folder
/// names.
pub fn check_room(room: &str) -> Result<(), ApiError> {
    let ok = room.len() <= MAX_ROOM
        && room.starts_with(|c: char| c.is_ascii_alphanumeric())
        && room
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::MalformedMessage,
            format!(
                "A room name is 1 to {MAX_ROOM} letters, digits, '-', '_' or '.', starting with a letter or digit."
            ),
        ))
    }
}

/// An identity is 1 to 128 characters, none of them a control character (line breaks,
/// NUL), and not blank.
pub fn check_identity(identity: &str) -> Result<(), ApiError> {
    if identity.trim().is_empty() || !printable(identity, MAX_IDENTITY) {
        return Err(ApiError::new(
            ErrorCode::MalformedMessage,
            format!("An identity is 1 to {MAX_IDENTITY} characters without control characters."),
        ));
    }
    Ok(())
}

/// A display name is at most 128 characters, none of them a control character.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    if !printable(name, MAX_NAME) {
        return Err(ApiError::new(
            ErrorCode::MalformedMessage,
            format!("A name is at most {MAX_NAME} characters without control characters."),
        ));
    }
    Ok(())
}

fn printable(text: &str, max: usize) -> bool {
    text.chars().count() <= max && !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_fit_in_a_path_and_a_folder_name() {
        for good in ["daily-standup_2.0", "a", &"r".repeat(64)] {
            assert!(check_room(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a b",
            "ä",
            "x/y",
            "..",
            ".hidden",
            "-x",
            "a\nb",
            &"a".repeat(65),
        ] {
            assert!(check_room(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn identities_and_names_have_no_control_characters_and_a_length() {
        assert!(check_identity("ada@example.com").is_ok());
        assert!(check_identity("Jürgen Ö").is_ok());
        for bad in ["", "   ", "a\u{0}b", "a\r\nSet-Cookie: x", &"i".repeat(129)] {
            assert!(check_identity(bad).is_err(), "{bad:?}");
        }
        assert!(check_name("").is_ok(), "a token may leave the name out");
        assert!(check_name("李 小龍").is_ok());
        assert!(check_name(&"n".repeat(129)).is_err());
        assert!(check_name("tab\there").is_err());
    }
}
