//! Rooms users own: made with a stable name and the settings a meeting in it starts with;
//! the owner and the co-hosts it names join as hosts, others as guests (when the room
//! lets people without an account in, and with its access code when it has one). The
//! server mints the tokens for these joins.

use std::net::IpAddr;
use std::time::Instant;

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::names;
use moim_proto::signal::RoomMode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::limiter::Subject;
use super::{Accounts, normalize_email, now};
use crate::room::lobby::SettingsChange;
use crate::room::rooms::EndedChat;
use crate::store::rooms::{AddRoomError, OwnedRoom};
use crate::store::users::User;
use crate::store::{Store, internal};

/// The longest access code.
pub const MAX_ACCESS_CODE: usize = 64;
/// The most co-hosts a room has.
pub const MAX_HOSTS: usize = 50;

/// What a meeting in an owned room starts with, and who may come in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomDefaults {
    /// Newcomers wait until a host admits them.
    #[serde(default)]
    pub waiting_room: bool,
    /// No one new may join but hosts.
    #[serde(default)]
    pub locked: bool,
    #[serde(default)]
    pub mode: RoomMode,
    /// People without an account on the server may join through the link.
    #[serde(default = "yes")]
    pub guests: bool,
    /// A code everyone but the hosts types to join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_code: Option<String>,
    /// Who records: the owner alone, or every host.
    #[serde(default)]
    pub recorders: Recorders,
    /// The chat of each meeting is kept, once it ends, in the room's library.
    #[serde(default)]
    pub keep_chat: bool,
}

fn yes() -> bool {
    true
}

impl Default for RoomDefaults {
    fn default() -> Self {
        RoomDefaults {
            waiting_room: false,
            locked: false,
            mode: RoomMode::Meeting,
            guests: true,
            access_code: None,
            recorders: Recorders::Hosts,
            keep_chat: false,
        }
    }
}

impl RoomDefaults {
    /// The settings a live room starts with.
    pub fn change(&self) -> SettingsChange {
        SettingsChange {
            locked: Some(self.locked),
            waiting_room: Some(self.waiting_room),
            mode: Some(self.mode),
            ..SettingsChange::default()
        }
    }

    /// The settings with the access code trimmed (none when empty), or why they are wrong.
    fn checked(mut self) -> Result<RoomDefaults, ApiError> {
        self.access_code = self
            .access_code
            .map(|code| code.trim().to_owned())
            .filter(|code| !code.is_empty());
        if let Some(code) = &self.access_code
            && (code.chars().count() > MAX_ACCESS_CODE || code.chars().any(char::is_control))
        {
            return Err(ApiError::new(
                ErrorCode::MalformedMessage,
                format!("An access code is 1 to {MAX_ACCESS_CODE} characters."),
            ));
        }
        Ok(self)
    }
}

/// Who records in an owned room.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Recorders {
    Owner,
    #[default]
    Hosts,
}

/// An owned room as its owner and co-hosts see it.
#[derive(Debug, Clone)]
pub struct Room {
    pub kept: OwnedRoom,
    pub defaults: RoomDefaults,
}

/// How someone comes into an owned room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub identity: String,
    pub name: String,
    pub host: bool,
    pub record: bool,
}

impl Accounts {
    /// Makes a room owned by `owner`, named `name` or, without one, a name made here; a
    /// name `in_use` (a meeting runs in it, it has recordings) is not taken.
    pub async fn create_room(
        &self,
        owner: &User,
        name: Option<&str>,
        defaults: RoomDefaults,
        hosts: &[String],
        in_use: impl Fn(&str) -> bool,
    ) -> Result<Room, ApiError> {
        let defaults = defaults.checked()?;
        let settings = serde_json::to_string(&defaults).expect("settings serialize");
        let hosts = self.host_ids(hosts).await?;
        let wanted = name;
        let mut tries = 0;
        let name = loop {
            let name = match wanted {
                Some(name) => name.to_owned(),
                None => format!(
                    "{}-{:04x}",
                    crate::banner::meeting_name(rand::random()),
                    rand::random::<u16>()
                ),
            };
            names::check_room(&name)?;
            let added = if in_use(&name) {
                // A meeting or recordings of that name belong to someone else.
                Err(AddRoomError::Taken)
            } else {
                self.store
                    .add_room(&name, &owner.id, &settings, now())
                    .await
            };
            match added {
                Ok(()) => break name,
                // A name made here that happens to be taken: make another.
                Err(AddRoomError::Taken) if wanted.is_none() && tries < 3 => tries += 1,
                Err(AddRoomError::Taken) => {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        format!("A room named \"{name}\" exists already; choose another name."),
                    ));
                }
                Err(AddRoomError::Store(e)) => return Err(internal(e)),
            }
        };
        if !hosts.is_empty() {
            self.store
                .set_room_hosts(&name, &hosts)
                .await
                .map_err(internal)?;
        }
        self.room(&name).await?.ok_or_else(|| no_room(&name))
    }

    /// An owned room with its settings.
    pub async fn room(&self, name: &str) -> Result<Option<Room>, ApiError> {
        let Some(kept) = self.store.owned_room(name).await.map_err(internal)? else {
            return Ok(None);
        };
        let defaults = serde_json::from_str(&kept.settings).unwrap_or_default();
        Ok(Some(Room { kept, defaults }))
    }

    /// The rooms `user` owns or co-hosts.
    pub async fn rooms_of(&self, user: &User) -> Result<Vec<Room>, ApiError> {
        let kept = self.store.rooms_of(&user.id).await.map_err(internal)?;
        Ok(kept
            .into_iter()
            .map(|kept| Room {
                defaults: serde_json::from_str(&kept.settings).unwrap_or_default(),
                kept,
            })
            .collect())
    }

    /// Changes an owned room's settings or co-hosts; only its owner may.
    pub async fn change_room(
        &self,
        user: &User,
        name: &str,
        defaults: Option<RoomDefaults>,
        hosts: Option<&[String]>,
    ) -> Result<Room, ApiError> {
        self.owned_by(user, name).await?;
        if let Some(defaults) = defaults {
            let defaults = defaults.checked()?;
            let settings = serde_json::to_string(&defaults).expect("settings serialize");
            self.store
                .set_room_settings(name, &settings)
                .await
                .map_err(internal)?;
        }
        if let Some(hosts) = hosts {
            let ids = self.host_ids(hosts).await?;
            self.store
                .set_room_hosts(name, &ids)
                .await
                .map_err(internal)?;
        }
        self.room(name).await?.ok_or_else(|| no_room(name))
    }

    /// Forgets an owned room; only its owner may, once its recordings are deleted
    /// (`has_recordings`), so that they never pass to whoever takes the name next.
    pub async fn delete_room(
        &self,
        user: &User,
        name: &str,
        has_recordings: bool,
    ) -> Result<(), ApiError> {
        self.owned_by(user, name).await?;
        if has_recordings {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "The room still has recordings: delete them in its library first.",
            ));
        }
        self.store.delete_room(name).await.map_err(internal)
    }

    /// How `user` (or a guest, without one) comes into room `name` with the display name
    /// `name_given` and the access code `code`: as a host (the owner, a co-host) or a
    /// guest, or not at all.
    pub async fn enter(
        &self,
        room: &Room,
        user: Option<&User>,
        name_given: &str,
        code: Option<&str>,
        address: IpAddr,
    ) -> Result<Entry, ApiError> {
        let owner = user.is_some_and(|u| u.id == room.kept.owner_id);
        let host = owner || user.is_some_and(|u| room.kept.hosts.contains(&u.id));
        let name = match (user, name_given.trim()) {
            (Some(user), "") => user.name.clone(),
            (_, given) => given.to_owned(),
        };
        if name.is_empty() || name.chars().count() > 64 {
            return Err(ApiError::new(
                ErrorCode::MalformedMessage,
                "The name must be 1 to 64 characters.",
            ));
        }
        names::check_name(&name)?;
        if host {
            let record = owner || room.defaults.recorders == Recorders::Hosts;
            let identity = user.map(|u| u.id.clone()).unwrap_or_default();
            return Ok(Entry {
                identity,
                name,
                host: true,
                record,
            });
        }
        if user.is_none() && !room.defaults.guests {
            return Err(ApiError::new(
                ErrorCode::NotSignedIn,
                "Only people with an account on this server join this room: sign in first.",
            ));
        }
        if let Some(expected) = &room.defaults.access_code {
            let subject = Subject::Room(&room.kept.name);
            if let Err(secs) = self.limiter.attempt(subject, address, Instant::now()) {
                return Err(ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "Too many wrong codes; try again in {} minutes.",
                        secs.div_ceil(60)
                    ),
                ));
            }
            if code.map(str::trim) != Some(expected.as_str()) {
                return Err(ApiError::new(
                    ErrorCode::PermissionDenied,
                    if code.is_some() {
                        "The access code is wrong."
                    } else {
                        "This room asks for its access code."
                    },
                ));
            }
            self.limiter.succeeded(subject, address);
        }
        let identity = match user {
            Some(user) => user.id.clone(),
            None => format!(
                "{}-{:04x}",
                crate::http::api::slug(&name),
                rand::random::<u16>()
            ),
        };
        Ok(Entry {
            identity,
            name,
            host: false,
            record: false,
        })
    }

    async fn owned_by(&self, user: &User, name: &str) -> Result<Room, ApiError> {
        let room = self.room(name).await?.ok_or_else(|| no_room(name))?;
        if room.kept.owner_id != user.id {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "Only the room's owner changes it.",
            ));
        }
        Ok(room)
    }

    /// The user ids of the co-hosts named by email.
    async fn host_ids(&self, emails: &[String]) -> Result<Vec<String>, ApiError> {
        if emails.len() > MAX_HOSTS {
            return Err(ApiError::new(
                ErrorCode::MalformedMessage,
                format!("A room has at most {MAX_HOSTS} co-hosts."),
            ));
        }
        let mut ids = Vec::with_capacity(emails.len());
        for email in emails {
            let email = normalize_email(email)?;
            let Some(found) = self.store.credentials(&email).await.map_err(internal)? else {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!("No user has the email {email}; a co-host needs an account."),
                ));
            };
            if !ids.contains(&found.user.id) {
                ids.push(found.user.id);
            }
        }
        Ok(ids)
    }
}

/// Keeps the chat of a meeting that ended, when its room is owned and keeps chats.
pub async fn keep_chat(store: &Store, chat: EndedChat) {
    let keeps = match store.owned_room(&chat.room).await {
        Ok(Some(room)) => {
            serde_json::from_str::<RoomDefaults>(&room.settings).is_ok_and(|d| d.keep_chat)
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(
                room = chat.room,
                "cannot look the room up to keep its chat: {e}"
            );
            false
        }
    };
    if !keeps {
        return;
    }
    let id = crate::store::new_id("CH");
    let ended_at = i64::try_from(chat.ended_at).unwrap_or(i64::MAX);
    if let Err(e) = store
        .add_transcript(&id, &chat.room, ended_at, chat.text.as_bytes())
        .await
    {
        tracing::warn!(room = chat.room, "cannot keep the meeting's chat: {e}");
    }
}

fn no_room(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("No room \"{name}\" is kept on this server; ask its owner for the link."),
    )
}
