//! The command line: `serve` (the default), `migrate`, `user create|list`, `sandbox`.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::accounts::{self, NewLocalUser};
use crate::config::{ConfigError, Settings};
use crate::{db, sandbox, startup, telemetry};

#[derive(Debug, Parser)]
#[command(
    name = "dingtalk-login",
    version,
    about = "Log in with DingTalk (钉钉) and hand JWT tokens to a single-page app"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the web server (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Run only the DingTalk simulator (for benchmarks: keeps DingTalk out of the service's process).
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:8010")]
        bind: SocketAddr,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user with a password (argon2id), or a provider-only user (--no-password).
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: Option<String>,
        /// Phone number, e.g. 13800138000 or +8613800138000.
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input.
        #[arg(long, conflicts_with = "no_password")]
        password_stdin: bool,
        /// No password: the user signs in the first time with DingTalk, matched by --phone.
        #[arg(long, requires = "phone")]
        no_password: bool,
    },
    /// List users and their linked accounts.
    List,
}

/// Exit codes: 0 ok, 1 a runtime failure, 2 bad configuration or usage.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `.env` first, so that its RUST_LOG counts too; the process environment wins over it.
    let _ = dotenvy::dotenv();
    if let Err(error) = telemetry::init() {
        return config_failure(&error);
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => return config_failure(&error),
    };
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => migrate(&settings),
        Command::User(UserCommand::Create {
            username,
            name,
            phone,
            admin,
            password_stdin,
            no_password,
        }) => {
            let password = if no_password {
                PasswordSource::None
            } else if password_stdin {
                PasswordSource::Stdin
            } else {
                PasswordSource::Ask
            };
            create_user(&settings, username, name, phone, admin, password)
        }
        Command::User(UserCommand::List) => list_users(&settings),
        Command::Sandbox { bind } => run_sandbox(&settings, bind),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<ConfigError>() {
            Some(config) => config_failure(config),
            None => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

fn config_failure(error: &ConfigError) -> ExitCode {
    eprintln!("configuration error: {error}");
    ExitCode::from(2)
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = startup::Application::build(settings).await?;
        app.run_until_stopped().await?;
        Ok(())
    })
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let applied = db::run_migrations(&settings.database_url)?;
    if applied.is_empty() {
        println!("{}: up to date", settings.database_url);
    }
    for version in applied {
        println!("applied {version}");
    }
    Ok(())
}

fn open_database(settings: &Settings) -> anyhow::Result<db::DbConn> {
    db::run_migrations(&settings.database_url)?;
    Ok(db::establish(&settings.database_url)?)
}

fn create_user(
    settings: &Settings,
    username: String,
    name: Option<String>,
    phone: Option<String>,
    admin: bool,
    password: PasswordSource,
) -> anyhow::Result<()> {
    let password = match password {
        PasswordSource::None => None,
        PasswordSource::Stdin => Some(read_stdin_line()?),
        PasswordSource::Ask if !std::io::stdin().is_terminal() => Some(read_stdin_line()?),
        PasswordSource::Ask => {
            let first = rpassword::prompt_password("Password: ")?;
            let again = rpassword::prompt_password("Password (again): ")?;
            anyhow::ensure!(first == again, "the two passwords differ");
            Some(first)
        }
    };
    let mut conn = open_database(settings)?;
    let new = NewLocalUser {
        username,
        name,
        phone,
        password,
        admin,
    };
    let user = accounts::create_local_user(&mut conn, new)?;
    println!(
        "created user {} (id {}, role {})",
        user.username, user.id, user.role
    );
    Ok(())
}

enum PasswordSource {
    None,
    Stdin,
    Ask,
}

fn read_stdin_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn list_users(settings: &Settings) -> anyhow::Result<()> {
    let mut conn = open_database(settings)?;
    let users = db::users::list_with_links(&mut conn)?;
    println!(
        "{:<6} {:<24} {:<20} {:<16} {:<6} {:<7} linked",
        "id", "username", "name", "phone", "role", "active"
    );
    for (user, links) in users {
        let linked: Vec<String> = links
            .iter()
            .map(|l| format!("{}:{} ({})", l.types, l.uid, l.nick))
            .collect();
        println!(
            "{:<6} {:<24} {:<20} {:<16} {:<6} {:<7} {}",
            user.id,
            user.username,
            user.name,
            user.phone.as_deref().unwrap_or("-"),
            user.role,
            if user.is_active { "yes" } else { "no" },
            if linked.is_empty() {
                "-".to_owned()
            } else {
                linked.join(", ")
            }
        );
    }
    Ok(())
}

fn run_sandbox(settings: &Settings, bind: SocketAddr) -> anyhow::Result<()> {
    let settings = settings.clone();
    actix_web::rt::System::new()
        .block_on(async move { sandbox::serve_standalone(&settings, bind).await })
}
