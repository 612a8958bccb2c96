//! `moim user`: users on the command line, for the first admin and for scripts. It works on
//! the configured database directly (the embedded one in `data_dir` by default), so it
//! needs no running server.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::Accounts;
use crate::client::table::table;
use crate::config::Config;
use crate::store::Store;
use crate::store::users::User;

/// Where `moim user` finds the database.
#[derive(Debug, Args)]
pub struct UserArgs {
    /// The server's TOML config file (its `data_dir` and `database_url`).
    #[arg(long, env = "MOIM_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub cmd: UserCmd,
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user who signs in with an email and password.
    Add {
        #[arg(long)]
        email: String,
        /// The password; without it, the first line of standard input.
        #[arg(long)]
        password: Option<String>,
        /// The name shown to others (default: the email's part before `@`).
        #[arg(long)]
        name: Option<String>,
        /// The user manages other users.
        #[arg(long)]
        admin: bool,
    },
    /// List the users.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password (their sessions end).
    Passwd {
        #[arg(long)]
        email: String,
        /// The new password; without it, the first line of standard input.
        #[arg(long)]
        password: Option<String>,
    },
    /// Disable a user (their sessions end), or enable them again.
    Disable {
        #[arg(long)]
        email: String,
        /// Enable the user instead.
        #[arg(long)]
        enable: bool,
    },
    /// Make a user an admin, or no longer one.
    Admin {
        #[arg(long)]
        email: String,
        /// Take the admin role away instead.
        #[arg(long)]
        revoke: bool,
    },
}

/// Runs a `moim user` command.
pub fn run(args: UserArgs) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref(), |k| std::env::var(k).ok())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = Store::open(config.database_url.as_deref(), &config.data_dir).await?;
        let accounts = Accounts::new(store, &config);
        command(&accounts, args.cmd).await
    })
}

async fn command(accounts: &Accounts, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add {
            email,
            password,
            name,
            admin,
        } => {
            let password = password_or_stdin(password)?;
            let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or("").to_owned());
            let user = accounts
                .add_user(&email, &name, Some(password), admin)
                .await?;
            println!(
                "added {} ({}){}",
                user.email,
                user.id,
                if admin { ", admin" } else { "" }
            );
        }
        UserCmd::List { json } => {
            let mut users = Vec::new();
            let mut after = String::new();
            loop {
                let page = accounts.store().users(&after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.email.clone();
                users.extend(page);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                print_users(&users);
            }
        }
        UserCmd::Passwd { email, password } => {
            let user = by_email(accounts, &email).await?;
            let password = password_or_stdin(password)?;
            accounts.set_password(&user.id, password).await?;
            println!("password of {} set; their sessions ended", user.email);
        }
        UserCmd::Disable { email, enable } => {
            let user = by_email(accounts, &email).await?;
            accounts.set_disabled(&user.id, !enable).await?;
            let what = if enable {
                "enabled"
            } else {
                "disabled; their sessions ended"
            };
            println!("{} {what}", user.email);
        }
        UserCmd::Admin { email, revoke } => {
            let user = by_email(accounts, &email).await?;
            accounts.set_admin(&user.id, !revoke).await?;
            let what = if revoke {
                "is no longer an admin"
            } else {
                "is an admin"
            };
            println!("{} {what}", user.email);
        }
    }
    Ok(())
}

async fn by_email(accounts: &Accounts, email: &str) -> anyhow::Result<User> {
    let email = super::normalize_email(email)?;
    match accounts.store().credentials(&email).await? {
        Some(found) => Ok(found.user),
        None => bail!("no user has the email {email}"),
    }
}

/// The password given, or the first line of standard input (so it stays out of the
/// shell's history and the process list).
fn password_or_stdin(password: Option<String>) -> anyhow::Result<String> {
    if let Some(password) = password {
        return Ok(password);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("give the password with --password or on standard input");
    }
    Ok(password)
}

fn print_users(users: &[User]) {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            let mut role = if u.admin { "admin" } else { "user" }.to_owned();
            if u.disabled {
                role.push_str(", disabled");
            }
            vec![u.email.clone(), u.name.clone(), role, u.id.clone()]
        })
        .collect();
    println!("{}", table(&["EMAIL", "NAME", "ROLE", "ID"], &rows));
}
