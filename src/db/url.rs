//! `DATABASE_URL`: which backend, and where. `sqlite://PATH` or `postgres://…`.

use std::fmt;
use std::path::PathBuf;

/// Where the data lives, parsed from `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn is_sqlite(&self) -> bool {
        matches!(self, DatabaseUrl::Sqlite(_))
    }
}

/// Never prints a PostgreSQL password.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            DatabaseUrl::Postgres(raw) => match url::Url::parse(raw) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        let _ = parsed.set_password(Some("***"));
                    }
                    write!(f, "{parsed}")
                }
                Err(_) => f.write_str("postgres://(unparsable)"),
            },
        }
    }
}

impl DatabaseUrl {
    /// Parses `DATABASE_URL`; the error says what is wrong (the caller names the variable).
    pub fn parse(raw: &str) -> Result<DatabaseUrl, String> {
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("the SQLite path is empty".into());
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            let parsed =
                url::Url::parse(raw).map_err(|e| format!("not a valid PostgreSQL URL ({e})"))?;
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err("the PostgreSQL URL has no host".into());
            }
            return Ok(DatabaseUrl::Postgres(raw.to_owned()));
        }
        let scheme = raw.split_once("://").map(|(s, _)| s).unwrap_or(raw);
        Err(format!("unsupported database `{scheme}`"))
    }
}
