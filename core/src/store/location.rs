//! Where a store lives: a data dir (sled, embedded) or a PostgreSQL database (shared by several
//! nodes). `verbund serve --store`, `VERBUND_STORE` and `store` in `verbund.toml` name one.

use std::path::PathBuf;
use std::sync::Arc;

use super::{PgStore, SledStore, Store, StoreResult};

/// A store's location, as an operator writes it.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A sled data dir.
    Dir(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user@host:5432/db`).
    Postgres(String),
}

impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl StoreLocation {
    /// A `postgres://` or `postgresql://` URL is a database; anything else is a data dir.
    pub fn parse(text: &str) -> StoreLocation {
        let lower = text.trim().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            StoreLocation::Postgres(text.trim().to_string())
        } else {
            StoreLocation::Dir(PathBuf::from(text))
        }
    }

    /// Whether several nodes can share this store.
    pub fn is_shared(&self) -> bool {
        matches!(self, StoreLocation::Postgres(_))
    }

    /// The location with any password replaced by `***` (for logs and messages).
    pub fn redacted(&self) -> String {
        match self {
            StoreLocation::Dir(p) => p.display().to_string(),
            StoreLocation::Postgres(url) => redact_url(url),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let redacted_tail = redact_query_password(tail);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{redacted_tail}"),
            None => format!("{scheme}://{userinfo}@{host}{redacted_tail}"),
        },
        None => format!("{scheme}://{authority}{redacted_tail}"),
    }
}

fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
            _ => p.to_string(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

/// Opens (or creates) the store at `location`.
pub fn open(location: &StoreLocation) -> StoreResult<Arc<dyn Store>> {
    Ok(match location {
        StoreLocation::Dir(dir) => Arc::new(SledStore::open(dir)?),
        StoreLocation::Postgres(url) => Arc::new(PgStore::open(url)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_databases_and_everything_else_a_dir() {
        assert!(StoreLocation::parse("postgres://localhost/verbund").is_shared());
        assert!(StoreLocation::parse("PostgreSQL://localhost/verbund").is_shared());
        assert_eq!(
            StoreLocation::parse("./verbund-data"),
            StoreLocation::Dir(PathBuf::from("./verbund-data"))
        );
    }

    #[test]
    fn passwords_never_show() {
        let loc = StoreLocation::parse("postgres://verbund:geheim@db.example.org:5432/cms");
        assert_eq!(
            loc.redacted(),
            "postgres://verbund:***@db.example.org:5432/cms"
        );
        assert!(!format!("{loc:?}").contains("geheim"));
        let loc = StoreLocation::parse("postgres://db/cms?user=v&password=geheim&sslmode=disable");
        assert_eq!(
            loc.redacted(),
            "postgres://db/cms?user=v&password=***&sslmode=disable"
        );
    }
}
