//! Accounts: the people of an organisation who sign in to the server, their sessions,
//! invitations and profiles. [`Accounts`] keeps the rules (who may sign up, the sign-in
//! rate limit, sessions ending on a password change); the store keeps the rows; the HTTP
//! handlers (`http/account_api.rs`, `http/users_api.rs`) and `moim user` call it.

pub mod cli;
pub mod limiter;
pub mod oidc;
pub mod password;
pub mod rooms;
pub mod session;

use std::net::IpAddr;
use std::time::Instant;

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use moim_proto::names;

use crate::config::{Config, Signup};
use crate::state::unix_now;
use crate::store::users::{AddError, NewUser, User};
use crate::store::{Store, internal};
use limiter::Limiter;
use session::{Secret, digest};

/// Days an invitation stays usable.
pub const INVITE_DAYS: u64 = 7;

/// The accounts of the server.
#[derive(Debug)]
pub struct Accounts {
    store: Store,
    limiter: Limiter,
    signup: Signup,
    session_secs: u64,
    csrf_key: Vec<u8>,
    secure_cookies: bool,
    /// The organisation's identity provider, when one is configured.
    pub oidc: Option<oidc::Oidc>,
}

/// A user who just signed in, with the new session's secret for the cookie.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub secret: Secret,
}

/// What a sign-up sends.
#[derive(Debug)]
pub struct SignUp {
    pub email: Option<String>,
    pub name: String,
    pub password: String,
    pub invite: Option<String>,
}

impl Accounts {
    /// The accounts kept in `store`, by `config`'s rules.
    pub fn new(store: Store, config: &Config) -> Accounts {
        let https = config.tls_cert.is_some()
            || config
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://"));
        Accounts {
            store,
            limiter: Limiter::default(),
            signup: config.signup,
            session_secs: config.session_days * 24 * 3600,
            csrf_key: config.api_secret.as_bytes().to_vec(),
            secure_cookies: https,
            oidc: oidc::Oidc::from_config(config),
        }
    }

    /// The store the accounts live in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Who may make an account.
    pub fn signup(&self) -> Signup {
        self.signup
    }

    /// The `Set-Cookie` value carrying `secret` (or, without one, forgetting it).
    pub fn cookie(&self, secret: Option<&Secret>) -> String {
        session::set_cookie(secret, self.session_secs, self.secure_cookies)
    }

    /// The CSRF token of a session.
    pub fn csrf(&self, secret: &Secret) -> String {
        secret.csrf(&self.csrf_key)
    }

    /// Whether `token` is the CSRF token of the session `secret`.
    pub fn csrf_matches(&self, secret: &Secret, token: &str) -> bool {
        secret.csrf_matches(&self.csrf_key, token)
    }

    /// The user of a live session.
    pub async fn session(&self, secret: &Secret) -> Result<Option<User>, ApiError> {
        self.store
            .session_user(&secret.hash(), now())
            .await
            .map_err(internal)
    }

    /// Signs in with an email and password, from `address`. Whether the email has an
    /// account or not, a wrong password gets the same answer after the same work.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<SignedIn, ApiError> {
        let email = email.trim().to_lowercase();
        let subject = limiter::Subject::Account(&email);
        if let Err(secs) = self.limiter.attempt(subject, address, Instant::now()) {
            return Err(ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "Too many failed sign-ins; try again in {} minutes.",
                    secs.div_ceil(60)
                ),
            ));
        }
        let found = self.store.credentials(&email).await.map_err(internal)?;
        let hash = found.as_ref().and_then(|c| c.password_hash.clone());
        let matches = password.len() <= password::MAX_PASSWORD_BYTES
            && password::verify(hash, password.to_owned()).await;
        let Some(credentials) = found.filter(|_| matches) else {
            return Err(ApiError::new(
                ErrorCode::WrongCredentials,
                "The email or password is wrong.",
            ));
        };
        self.limiter.succeeded(subject, address);
        if credentials.user.disabled {
            return Err(disabled());
        }
        self.start_session(credentials.user).await
    }

    /// Signs in the person the identity provider vouches for: the user linked to it, or
    /// (its email verified by the provider) the user with that email, linked now, or a new
    /// user: whom the organisation's provider lets in gets an account.
    pub async fn sign_in_oidc(&self, identity: oidc::Identity) -> Result<SignedIn, ApiError> {
        if let Some(user) = self
            .store
            .user_by_subject(&identity.subject)
            .await
            .map_err(internal)?
        {
            return self.start_session(user).await;
        }
        let email =
            normalize_email(identity.email.as_deref().unwrap_or_default()).map_err(|_| {
                ApiError::new(
                    ErrorCode::PermissionDenied,
                    "The identity provider gave no email address; this server needs one.",
                )
            })?;
        if !identity.email_verified {
            return Err(ApiError::new(
                ErrorCode::PermissionDenied,
                "The identity provider has not verified your email address; this server \
                 needs a verified one.",
            ));
        }
        if let Some(found) = self.store.credentials(&email).await.map_err(internal)? {
            self.store
                .set_subject(&found.user.id, &identity.subject)
                .await
                .map_err(internal)?;
            return self.start_session(found.user).await;
        }
        let fallback = email.split('@').next().unwrap_or("user").to_owned();
        let name = identity
            .name
            .filter(|n| names::check_name(n.trim()).is_ok() && !n.trim().is_empty())
            .unwrap_or(fallback);
        let user = self
            .insert(NewUser {
                email: &email,
                name: name.trim(),
                password_hash: None,
                oidc_subject: Some(&identity.subject),
                admin: false,
            })
            .await?;
        self.start_session(user).await
    }

    /// Makes an account as the server's `signup` allows, and signs it in.
    pub async fn sign_up(&self, request: SignUp) -> Result<SignedIn, ApiError> {
        password::check(&request.password)?;
        names::check_name(request.name.trim())?;
        let (email, admin) = match (self.signup, &request.invite) {
            (Signup::Off, _) => {
                return Err(ApiError::new(
                    ErrorCode::PermissionDenied,
                    "Sign-up is off on this server: an admin adds users.",
                ));
            }
            (_, Some(code)) => {
                let Some((email, admin)) = self
                    .store
                    .invite(&digest(code), now())
                    .await
                    .map_err(internal)?
                else {
                    return Err(ApiError::new(
                        ErrorCode::NotFound,
                        "This invitation is unknown, used or expired; ask for a new one.",
                    ));
                };
                (email, admin)
            }
            (Signup::Invite, None) => {
                return Err(ApiError::new(
                    ErrorCode::PermissionDenied,
                    "Sign-up on this server is by invitation: open the link an admin sent you.",
                ));
            }
            (Signup::Open, None) => {
                let email = request.email.as_deref().unwrap_or_default();
                (normalize_email(email)?, false)
            }
        };
        let hash = password::hash(request.password).await;
        let user = self
            .insert(NewUser {
                email: &email,
                name: request.name.trim(),
                password_hash: Some(&hash),
                oidc_subject: None,
                admin,
            })
            .await?;
        // Used up once the account is made (not before: a failure leaves it usable).
        if let Some(code) = &request.invite {
            self.store
                .delete_invite(&digest(code))
                .await
                .map_err(internal)?;
        }
        self.start_session(user).await
    }

    /// Forgets the sessions that expired (logging a failure: it is tried again later).
    pub async fn forget_expired_sessions(&self) {
        if let Err(e) = self.store.end_expired_sessions(now()).await {
            tracing::warn!("cannot forget expired sessions: {e}");
        }
    }

    /// Ends one session.
    pub async fn sign_out(&self, secret: &Secret) -> Result<(), ApiError> {
        self.store
            .end_session(&secret.hash())
            .await
            .map_err(internal)
    }

    /// Ends every session of `user` but `keep`'s.
    pub async fn sign_out_others(
        &self,
        user: &User,
        keep: Option<&Secret>,
    ) -> Result<u64, ApiError> {
        let keep = keep.map(Secret::hash).unwrap_or_default();
        self.store
            .end_sessions_of(&user.id, &keep)
            .await
            .map_err(internal)
    }

    /// Changes a signed-in user's password after checking the current one: every
    /// session of the user ends, and a new one starts for this browser.
    pub async fn change_password(
        &self,
        user: &User,
        current: &str,
        new: String,
    ) -> Result<SignedIn, ApiError> {
        password::check(&new)?;
        let hash = self
            .store
            .credentials(&user.email)
            .await
            .map_err(internal)?
            .and_then(|c| c.password_hash);
        if !password::verify(hash, current.to_owned()).await {
            return Err(ApiError::new(
                ErrorCode::WrongCredentials,
                "The current password is wrong.",
            ));
        }
        self.set_password(&user.id, new).await?;
        self.start_session(user.clone()).await
    }

    /// Sets a user's password (a change, or an admin's reset) and ends its sessions.
    pub async fn set_password(&self, id: &str, new: String) -> Result<(), ApiError> {
        password::check(&new)?;
        let hash = password::hash(new).await;
        if !self
            .store
            .set_password(id, &hash, now())
            .await
            .map_err(internal)?
        {
            return Err(no_user(id));
        }
        self.store.end_sessions_of(id, "").await.map_err(internal)?;
        Ok(())
    }

    /// Disables (ending its sessions) or enables a user.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<(), ApiError> {
        self.existing(id).await?;
        self.store
            .set_disabled(id, disabled)
            .await
            .map_err(internal)?;
        if disabled {
            self.store.end_sessions_of(id, "").await.map_err(internal)?;
        }
        Ok(())
    }

    /// Makes a user an admin or not.
    pub async fn set_admin(&self, id: &str, admin: bool) -> Result<(), ApiError> {
        self.existing(id).await?;
        self.store.set_admin(id, admin).await.map_err(internal)?;
        Ok(())
    }

    /// Adds a user (an admin's doing, or the command line's).
    pub async fn add_user(
        &self,
        email: &str,
        name: &str,
        password: Option<String>,
        admin: bool,
    ) -> Result<User, ApiError> {
        let email = normalize_email(email)?;
        let name = name.trim();
        names::check_name(name)?;
        let hash = match password {
            Some(password) => {
                password::check(&password)?;
                Some(password::hash(password).await)
            }
            None => None,
        };
        self.insert(NewUser {
            email: &email,
            name,
            password_hash: hash.as_deref(),
            oidc_subject: None,
            admin,
        })
        .await
    }

    /// An invitation for `email`, made by `by`: the code to put in the sign-up link.
    pub async fn invite(&self, by: &User, email: &str, admin: bool) -> Result<String, ApiError> {
        if self.signup == Signup::Off {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "Sign-up is off on this server, so an invitation could not be used: add the \
                 user instead.",
            ));
        }
        let email = normalize_email(email)?;
        let code = Secret::new();
        let now = now();
        self.store
            .add_invite(
                &code.hash(),
                &email,
                admin,
                &by.id,
                now,
                now + (INVITE_DAYS * 24 * 3600) as i64,
            )
            .await
            .map_err(internal)?;
        Ok(code.as_str().to_owned())
    }

    /// A user by id, or `not_found`.
    pub async fn existing(&self, id: &str) -> Result<User, ApiError> {
        self.store
            .user(id)
            .await
            .map_err(internal)?
            .ok_or_else(|| no_user(id))
    }

    async fn insert(&self, new: NewUser<'_>) -> Result<User, ApiError> {
        self.store.add_user(new, now()).await.map_err(|e| match e {
            AddError::EmailTaken => ApiError::new(
                ErrorCode::Conflict,
                "An account with this email exists already; sign in instead.",
            ),
            AddError::Store(e) => internal(e),
        })
    }

    async fn start_session(&self, user: User) -> Result<SignedIn, ApiError> {
        if user.disabled {
            return Err(disabled());
        }
        let secret = Secret::new();
        let now = now();
        self.store
            .add_session(
                &secret.hash(),
                &user.id,
                now,
                now + self.session_secs as i64,
            )
            .await
            .map_err(internal)?;
        Ok(SignedIn { user, secret })
    }
}

/// Where to go after signing in: a path on this server, `/` then only URL-safe characters
/// (no `\`, no `//`, nothing a browser would read as another site), else `/account`.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_.-~?=&%".contains(&b)) =>
        {
            path.to_owned()
        }
        _ => "/account".to_owned(),
    }
}

/// An email address as accounts are kept by: trimmed, lower case, one `@` between
/// something and a domain.
pub fn normalize_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let well_formed = email.len() <= 320
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if !well_formed {
        return Err(ApiError::new(
            ErrorCode::MalformedMessage,
            "That is not an email address (name@example.org).",
        ));
    }
    Ok(email)
}

fn now() -> i64 {
    i64::try_from(unix_now()).unwrap_or(i64::MAX)
}

fn disabled() -> ApiError {
    ApiError::new(
        ErrorCode::PermissionDenied,
        "This account is disabled; ask an admin of this server.",
    )
}

fn no_user(id: &str) -> ApiError {
    ApiError::new(ErrorCode::NotFound, format!("No user {id:?}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_server_are_gone_to_after_signing_in() {
        assert_eq!(safe_next(Some("/r/standup?x=1")), "/r/standup?x=1");
        for elsewhere in [
            "//evil.com",
            "/\\evil.com",
            "/\tevil",
            "https://evil.com",
            "evil",
        ] {
            assert_eq!(safe_next(Some(elsewhere)), "/account", "{elsewhere}");
        }
        assert_eq!(safe_next(None), "/account");
    }

    #[test]
    fn emails_are_kept_trimmed_and_in_lower_case() {
        assert_eq!(
            normalize_email(" Ada@Example.ORG ").unwrap(),
            "ada@example.org"
        );
        for bad in ["", "ada", "@x", "ada@", "a b@x", "a@b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
