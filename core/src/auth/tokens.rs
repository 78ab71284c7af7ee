//! Issuing, checking, listing and revoking API tokens.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AuthError, AuthService};
use crate::store::{Tree, WriteBatch};

/// What a token may do. Higher roles include the lower ones where it makes sense:
/// admin ⊇ editor ⊇ reader and admin ⊇ reviewer ⊇ reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Editor,
    Reviewer,
    Reader,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, AuthError> {
        match s {
            "admin" => Ok(Role::Admin),
            "editor" => Ok(Role::Editor),
            "reviewer" => Ok(Role::Reviewer),
            "reader" => Ok(Role::Reader),
            other => Err(AuthError::UnknownRole(other.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Reviewer => "reviewer",
            Role::Reader => "reader",
        }
    }

    /// Whether this role includes `needed`.
    pub fn includes(self, needed: Role) -> bool {
        self == needed
            || self == Role::Admin
            || (needed == Role::Reader && matches!(self, Role::Editor | Role::Reviewer))
    }
}

/// A token as stored (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenInfo {
    pub id: String,
    /// The visible part of the token (`vb_<prefix>_…`), to recognise it.
    pub prefix: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The person the token belongs to (shown in history, queue and audit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The person's e-mail address: what makes two tokens one person (four-eyes compares
    /// people, not tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// SHA-256 of the token, hex.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    #[schemars(skip)]
    pub hash: String,
}

impl TokenInfo {
    /// Who acts with this token: the person's address (lower-cased) when the token names one,
    /// else the token itself.
    pub fn person(&self) -> String {
        match self
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            Some(e) => format!("person:{}", e.to_lowercase()),
            None => format!("token:{}", self.id),
        }
    }

    /// "Name <e-mail>", the name or the address of the token's person, if it names one.
    pub fn display_name(&self) -> Option<String> {
        let name = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let email = self
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        match (name, email) {
            (Some(n), Some(e)) => Some(format!("{n} <{e}>")),
            (Some(n), None) => Some(n.to_string()),
            (None, Some(e)) => Some(e.to_string()),
            (None, None) => None,
        }
    }

    /// The record without its hash, for display.
    pub fn public(&self) -> TokenInfo {
        TokenInfo {
            hash: String::new(),
            ..self.clone()
        }
    }
}

/// A freshly issued token: the only time the secret is visible.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct IssuedToken {
    pub token: String,
    #[serde(flatten)]
    pub info: TokenInfo,
}

/// Who is calling: the token's id and role, and the person it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token_id: String,
    pub role: Role,
    /// See [`TokenInfo::person`].
    pub person: String,
}

/// The person a new token belongs to.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Caller {
    /// Requires `needed` (or a role that includes it).
    pub fn require(&self, needed: Role) -> Result<(), AuthError> {
        if self.role.includes(needed) {
            Ok(())
        } else {
            Err(AuthError::Forbidden {
                needed: needed.name(),
                has: self.role.name(),
            })
        }
    }
}

/// The longest expiry a token may have (100 years).
const MAX_EXPIRY_SECS: u64 = 36_500 * 86_400;

/// Parses `90d`, `12h`, `30m`, `3600s` or `never`.
pub fn parse_duration(s: &str) -> Result<Option<Duration>, AuthError> {
    if s == "never" {
        return Ok(None);
    }
    let bad = || {
        AuthError::BadRequest(format!(
            "{s:?} is not a duration; use e.g. 90d, 12h, 30m or never"
        ))
    };
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "d" => n.checked_mul(86_400),
        "h" => n.checked_mul(3_600),
        "m" => n.checked_mul(60),
        "s" => Some(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    if secs == 0 {
        return Err(bad());
    }
    if secs > MAX_EXPIRY_SECS {
        return Err(AuthError::BadRequest(format!(
            "{s:?} is too long; a token may be valid for at most 36500d (100 years), or never expire"
        )));
    }
    Ok(Some(Duration::from_secs(secs)))
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn token_key(id: &str) -> Vec<u8> {
    let mut k = b"id\0".to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

/// The last-used time lives under its own key, apart from the token record: a request that
/// records a use can never write back a token record an admin revoked meanwhile.
fn used_key(id: &str) -> Vec<u8> {
    let mut k = b"used\0".to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

fn prefix_key(prefix: &str) -> Vec<u8> {
    let mut k = b"prefix\0".to_vec();
    k.extend_from_slice(prefix.as_bytes());
    k
}

fn random(n: usize) -> Result<Vec<u8>, AuthError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| AuthError::Corrupt(format!("no randomness: {e}")))?;
    Ok(buf)
}

/// How often the last-used time of one token is written at most.
const LAST_USED_EVERY: Duration = Duration::from_secs(60);

impl AuthService {
    /// Issues a token. The returned secret is shown once and never stored.
    pub fn create_token(
        &self,
        role: Role,
        expires_in: Option<Duration>,
        label: Option<String>,
    ) -> Result<IssuedToken, AuthError> {
        self.create_token_for(role, expires_in, label, Person::default(), None)
    }

    /// Issues a token that belongs to `person`; `audit` (its id filled in with the new
    /// token's) is stored in the same commit.
    pub fn create_token_for(
        &self,
        role: Role,
        expires_in: Option<Duration>,
        label: Option<String>,
        person: Person,
        audit: Option<super::AuditRecord>,
    ) -> Result<IssuedToken, AuthError> {
        if let Some(e) = &person.email
            && (!e.contains('@') || e.trim().len() > 254 || e.contains(char::is_whitespace))
        {
            return Err(AuthError::BadRequest(format!(
                "{e:?} is not an e-mail address; a token's person is named by their address, e.g. anna.wendt@example.org"
            )));
        }
        let prefix: String = hex::encode(random(4)?);
        let secret = URL_SAFE_NO_PAD.encode(random(32)?);
        let token = format!("vb_{prefix}_{secret}");
        let now = Utc::now();
        let expires_at = match expires_in {
            Some(d) => Some(
                now + chrono::Duration::from_std(d)
                    .map_err(|_| AuthError::BadRequest("the expiry is too far away".into()))?,
            ),
            None => None,
        };
        let info = TokenInfo {
            id: ulid::Ulid::new().to_string(),
            prefix: prefix.clone(),
            role,
            label,
            name: person
                .name
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty()),
            email: person.email.map(|e| e.trim().to_string()),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            hash: hash(&token),
        };
        let mut b = WriteBatch::new();
        b.check(
            Tree::Tokens,
            prefix_key(&prefix),
            crate::store::Expect::Absent,
        );
        b.put(
            Tree::Tokens,
            prefix_key(&prefix),
            info.id.as_bytes().to_vec(),
        );
        b.put(
            Tree::Tokens,
            token_key(&info.id),
            serde_json::to_vec(&info).unwrap_or_default(),
        );
        match audit {
            Some(mut a) => {
                a.id.get_or_insert_with(|| info.id.clone());
                self.commit_audited(b, a)?;
            }
            None => {
                self.store.commit(b)?;
            }
        }
        Ok(IssuedToken {
            token,
            info: info.public(),
        })
    }

    fn load(&self, id: &str) -> Result<Option<TokenInfo>, AuthError> {
        match self.store.get(Tree::Tokens, &token_key(id))? {
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| AuthError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    /// Checks a bearer token and returns the caller.
    pub fn authenticate(&self, token: &str) -> Result<Caller, AuthError> {
        let mut parts = token.splitn(3, '_');
        let (Some("vb"), Some(prefix), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AuthError::Invalid);
        };
        // The prefix names the token's id, which names its record: one store call.
        let Some(record) =
            self.store
                .get_through(Tree::Tokens, &prefix_key(prefix), Tree::Tokens, b"id\0")?
        else {
            return Err(AuthError::Invalid);
        };
        let info: TokenInfo =
            serde_json::from_slice(&record).map_err(|e| AuthError::Corrupt(e.to_string()))?;
        // Compare hashes, not tokens: equal-length hex digests, compared in full.
        let given = hash(token);
        let same = given.len() == info.hash.len()
            && given
                .bytes()
                .zip(info.hash.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same || info.revoked_at.is_some() {
            return Err(AuthError::Invalid);
        }
        if let Some(exp) = info.expires_at
            && exp <= Utc::now()
        {
            return Err(AuthError::Expired(exp.to_rfc3339()));
        }
        self.touch(&info);
        Ok(Caller {
            person: info.person(),
            token_id: info.id,
            role: info.role,
        })
    }

    /// Records the last-used time, at most once a minute per token (under its own key).
    fn touch(&self, info: &TokenInfo) {
        {
            let mut seen = self.last_used.lock().unwrap_or_else(|p| p.into_inner());
            if seen
                .get(&info.id)
                .is_some_and(|t| t.elapsed() < LAST_USED_EVERY)
            {
                return;
            }
            seen.insert(info.id.clone(), Instant::now());
        }
        let mut b = WriteBatch::new();
        b.put(
            Tree::Tokens,
            used_key(&info.id),
            Utc::now().to_rfc3339().into_bytes(),
        );
        if let Err(e) = self.store.commit(b) {
            tracing::warn!(error = %e, "could not record a token's last use");
        }
    }

    /// A token record with its last-used time filled in.
    fn with_last_used(&self, mut info: TokenInfo) -> Result<TokenInfo, AuthError> {
        if let Some(v) = self.store.get(Tree::Tokens, &used_key(&info.id))?
            && let Ok(t) = DateTime::parse_from_rfc3339(&String::from_utf8_lossy(&v))
        {
            info.last_used_at = Some(t.with_timezone(&Utc));
        }
        Ok(info)
    }

    /// Every token (without hashes), oldest first.
    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>, AuthError> {
        let mut out = Vec::new();
        for (_, v) in self
            .store
            .scan_prefix(Tree::Tokens, b"id\0", false, usize::MAX)?
        {
            let t: TokenInfo =
                serde_json::from_slice(&v).map_err(|e| AuthError::Corrupt(e.to_string()))?;
            out.push(self.with_last_used(t)?.public());
        }
        Ok(out)
    }

    /// Whether the token `id` still works (known, not revoked, not expired), with its role.
    pub fn active_role(&self, id: &str) -> Result<Option<Role>, AuthError> {
        Ok(self.load(id)?.and_then(|t| {
            let live = t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > Utc::now());
            live.then_some(t.role)
        }))
    }

    /// The person behind an actor recorded in the store (a token id), or the actor itself
    /// (`system`, `cli`, a token that no longer exists).
    pub fn person_of(&self, actor: &str) -> String {
        match self.load(actor) {
            Ok(Some(t)) => t.person(),
            _ => actor.to_string(),
        }
    }

    /// How to name the actor recorded in the store to a person reading history, a queue or
    /// the audit log: "Name <e-mail>" (or either) of the token's person, else None (`system`,
    /// `cli`, a token without a person, one that no longer exists).
    pub fn display_name_of(&self, actor: &str) -> Option<String> {
        let t = self.load(actor).ok()??;
        t.display_name()
    }

    /// Revokes a token; it stops working at once. `audit` is stored in the same commit.
    pub fn revoke_token(
        &self,
        id: &str,
        audit: Option<super::AuditRecord>,
    ) -> Result<TokenInfo, AuthError> {
        let Some(mut info) = self.load(id)? else {
            return Err(AuthError::NotFound(id.to_string()));
        };
        if info.revoked_at.is_none() {
            info.revoked_at = Some(Utc::now());
            let mut b = WriteBatch::new();
            b.put(
                Tree::Tokens,
                token_key(id),
                serde_json::to_vec(&info).unwrap_or_default(),
            );
            match audit {
                Some(a) => self.commit_audited(b, a)?,
                None => {
                    self.store.commit(b)?;
                }
            }
        }
        Ok(self.with_last_used(info)?.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_what_they_should() {
        assert!(Role::Admin.includes(Role::Editor));
        assert!(Role::Editor.includes(Role::Reader));
        assert!(Role::Reviewer.includes(Role::Reader));
        assert!(!Role::Editor.includes(Role::Reviewer));
        assert!(!Role::Reader.includes(Role::Editor));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(
            parse_duration("90d").unwrap(),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(parse_duration("never").unwrap(), None);
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("77662773770h").is_err());
    }
}
