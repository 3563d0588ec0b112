//! The command line: `serve` (the default), `migrate`, `user create|list`,
//! `client create|list|delete` (OpenID clients), `doctor`, `sandbox`.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::accounts::{self, NewLocalUser};
use crate::config::{ConfigError, Settings};
use crate::oidc::clients::{self, NewClient};
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
    /// Manage the applications that log people in through this service (OpenID Connect).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Check what the DingTalk app may do: call the organisation's APIs the directory
    /// needs and name every missing permission (exit 1 when one is missing).
    Doctor,
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

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register an application; prints its client_id and (unless --public) its secret, once.
    Create {
        /// What people see on the consent page, e.g. Grafana.
        #[arg(long)]
        name: String,
        /// Where the application receives the code; exact match, repeatable.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// Where the application may send people after logout; exact match, repeatable.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// No secret (an SPA or a CLI, which cannot keep one): PKCE is required instead.
        #[arg(long)]
        public: bool,
        /// The id_token's algorithm: RS256 (every client) or ES256.
        #[arg(long, default_value = "RS256")]
        id_token_alg: String,
        /// Where the application hears that a session of its ended (a signed logout
        /// token is posted there: OpenID Connect Back-Channel Logout 1.0).
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
    },
    /// List the registered applications.
    List,
    /// Delete an application: its consents and sessions end with it.
    Delete { client_id: String },
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
    let command = cli.command.unwrap_or(Command::Serve);
    // The service parses its keys as it starts; every other command checks them here.
    if !matches!(command, Command::Serve)
        && let Err(error) = crate::oidc::keys::SigningKeys::check(&settings.oidc_keys)
    {
        return config_failure(&error);
    }
    let result = match command {
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
        Command::Client(command) => manage_clients(&settings, command),
        Command::Sandbox { bind } => run_sandbox(&settings, bind),
        Command::Doctor => return doctor(&settings),
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

fn manage_clients(settings: &Settings, command: ClientCommand) -> anyhow::Result<()> {
    let mut conn = open_database(settings)?;
    match command {
        ClientCommand::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            id_token_alg,
            backchannel_logout_uri,
        } => {
            let new = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                id_token_alg: id_token_alg.to_ascii_uppercase(),
                backchannel_logout_uri,
            };
            let registered = clients::register(&mut conn, new)?;
            println!("client_id:     {}", registered.client_id);
            match registered.secret {
                Some(secret) => {
                    println!("client_secret: {secret}");
                    println!("(the secret is shown this once; only its hash is kept)");
                }
                None => println!("public client: no secret, PKCE (S256) required"),
            }
            println!(
                "issuer:        {} (discovery at /.well-known/openid-configuration)",
                settings.base_url()
            );
        }
        ClientCommand::List => {
            println!(
                "{:<32} {:<20} {:<13} redirect URIs",
                "client_id", "name", "type"
            );
            for client in db::oidc::list_clients(&mut conn)? {
                let kind = if client.is_public() {
                    "public"
                } else {
                    "confidential"
                };
                let uris: Vec<&str> = client.redirect_uris().collect();
                println!(
                    "{:<32} {:<20} {:<13} {}",
                    client.client_id,
                    client.name,
                    kind,
                    uris.join(" ")
                );
            }
        }
        ClientCommand::Delete { client_id } => {
            anyhow::ensure!(
                db::oidc::delete_client(&mut conn, &client_id)?,
                "no client {client_id}"
            );
            println!("deleted client {client_id}");
        }
    }
    Ok(())
}

fn run_sandbox(settings: &Settings, bind: SocketAddr) -> anyhow::Result<()> {
    let settings = settings.clone();
    actix_web::rt::System::new()
        .block_on(async move { sandbox::serve_standalone(&settings, bind).await })
}

/// Exit 0 when every check passes, 1 otherwise.
fn doctor(settings: &Settings) -> ExitCode {
    use crate::directory::doctor::{self, Outcome};
    if settings.dingtalk.corp_ids.is_empty() {
        println!(
            "DINGTALK_CORP_IDS is unset: the organisation's APIs (membership, directory) are not in use; nothing to check."
        );
        return ExitCode::SUCCESS;
    }
    let findings = actix_web::rt::System::new().block_on(async {
        let http = startup::outbound_client(settings)?;
        let app = std::sync::Arc::new(crate::providers::dingtalk::oapi::AppApi::new(
            &settings.dingtalk,
            http,
        ));
        let api = crate::providers::dingtalk::directory::DirectoryApi::new(app);
        anyhow::Ok(doctor::examine(&api).await)
    });
    let findings = match findings {
        Ok(findings) => findings,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "DingTalk app {} of {}",
        settings.dingtalk.client_id,
        settings.dingtalk.corp_ids.join(", ")
    );
    for finding in &findings {
        let mark = if finding.passed() { "ok  " } else { "FAIL" };
        println!("{mark} {}", finding.check);
        match &finding.outcome {
            Outcome::Ok(detail) => println!("     {detail}"),
            Outcome::Missing {
                permission,
                console_name,
            } => {
                println!("     missing permission: {console_name} ({permission})");
                println!(
                    "     grant it in DingTalk's developer console: 权限管理 > {console_name}"
                );
                println!("     without it: {}", finding.needed_for);
            }
            Outcome::Failed(error) => {
                println!("     {error}");
                println!("     without it: {}", finding.needed_for);
            }
            Outcome::Skipped => println!("     not checked (fix the check above first)"),
        }
    }
    if findings.iter().all(doctor::Finding::passed) {
        println!("everything the directory needs is granted");
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
