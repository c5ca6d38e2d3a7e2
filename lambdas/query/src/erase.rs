//! `DELETE /events`: erasure of a user's (or a client's) events for data-protection requests.
//!
//! It runs on its own database role (`DELETE` on `events`, see the consumer's `roles`), only for
//! a caller the authorizer identified: an IAM principal (API Gateway's IAM authorization checks
//! `execute-api:Invoke` on this route separately from the read routes) or a JWT carrying the
//! erasure scope. Children of an erased event keep their rows with the link set to NULL (the
//! foreign key's `ON DELETE SET NULL`). The log line names who asked and how many rows went; the
//! erased identifier itself is logged only as a SHA-256 prefix, so that the log does not keep
//! what was erased.

use kx_events_consumer::Store;
use lambda_http::request::RequestContext;
use sha2::{Digest, Sha256};

use crate::respond::ApiError;

/// Whose events to erase: a user (optionally within one client), or a whole client.
#[derive(Clone, PartialEq, Eq)]
pub struct ErasureKey {
    /// `userId`.
    pub user_id: Option<String>,
    /// `clientId`.
    pub client_id: Option<String>,
}

impl std::fmt::Debug for ErasureKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl ErasureKey {
    /// Parses `userId` and/or `clientId` (at least one; both: that user within that client).
    ///
    /// ```
    /// use kx_events_query_api::ErasureKey;
    ///
    /// let k = ErasureKey::from_query_pairs(&[("userId".to_string(), "u1".to_string())]).unwrap();
    /// assert_eq!(k.user_id.as_deref(), Some("u1"));
    /// assert_eq!(ErasureKey::from_query_pairs(&[]).unwrap_err().status(), 400);
    /// ```
    pub fn from_query_pairs(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let mut key = ErasureKey {
            user_id: None,
            client_id: None,
        };
        for (k, v) in pairs {
            let slot = match k.as_str() {
                "userId" => &mut key.user_id,
                "clientId" => &mut key.client_id,
                other => {
                    return Err(ApiError::param(
                        other,
                        "unknown parameter; DELETE /events takes userId and/or clientId",
                    ))
                }
            };
            if slot.is_some() {
                return Err(ApiError::param(k, "given more than once"));
            }
            if v.trim().is_empty() {
                return Err(ApiError::param(k, "must not be empty"));
            }
            *slot = Some(v.clone());
        }
        if key.user_id.is_none() && key.client_id.is_none() {
            return Err(ApiError::param(
                "userId",
                "required: DELETE /events needs userId and/or clientId",
            ));
        }
        Ok(key)
    }

    /// For logs: which keys, each value as `sha256:` and its first 12 hex digits.
    pub fn describe(&self) -> String {
        let hash = |v: &str| {
            let digest = Sha256::digest(v.as_bytes());
            let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}")
        };
        let mut parts = Vec::new();
        if let Some(u) = &self.user_id {
            parts.push(format!("userId={}", hash(u)));
        }
        if let Some(c) = &self.client_id {
            parts.push(format!("clientId={}", hash(c)));
        }
        parts.join(" ")
    }
}

/// What an erasure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erasure {
    /// Rows deleted.
    pub deleted: u64,
    /// Rows of other users (or clients) whose `previousEventId` pointed at a deleted row and is
    /// NULL now.
    pub children_unlinked: i64,
}

const COUNT_CHILDREN_SQL: &str = "SELECT count(*) FROM events c
     WHERE c.previous_event_id IN (
         SELECT event_id FROM events
         WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR client_id = $2))
       AND NOT (($1::text IS NULL OR c.user_id IS NOT DISTINCT FROM $1)
            AND ($2::text IS NULL OR c.client_id = $2))";

const DELETE_SQL: &str = "DELETE FROM events
     WHERE ($1::text IS NULL OR user_id = $1) AND ($2::text IS NULL OR client_id = $2)";

/// Deletes the events of `key` in one transaction (safe to repeat: a second run deletes nothing).
pub async fn erase(store: &Store, key: &ErasureKey) -> Result<Erasure, ApiError> {
    let (user, client) = (key.user_id.clone(), key.client_id.clone());
    store
        .with_client(move |c| {
            let mut tx = c.transaction()?;
            let children: i64 = tx
                .query_one(COUNT_CHILDREN_SQL, &[&user, &client])?
                .get(0);
            let deleted = tx.execute(DELETE_SQL, &[&user, &client])?;
            tx.commit()?;
            Ok(Erasure {
                deleted,
                children_unlinked: children,
            })
        })
        .await
        .map_err(|e| match &e {
            kx_events_consumer::StoreError::Statement { code, .. } if code == "42501" => {
                ApiError::internal(format!(
                    "the erasure role may not delete from events (grant DELETE, see bootstrap migrate's KX_ERASER_ROLE_SECRET_ARN): {e}"
                ))
            }
            _ => ApiError::from(e),
        })
}

/// Who asked, from the authorizer: the IAM principal's ARN, or the JWT's `sub` (which must carry
/// `scope`). A request without an authorizer identity is refused.
pub(crate) fn caller(context: Option<&RequestContext>, scope: &str) -> Result<String, ApiError> {
    let refused = || {
        ApiError::forbidden(format!(
            "DELETE /events needs an authorized caller: IAM authorization, or a JWT with the scope {scope}"
        ))
    };
    #[allow(irrefutable_let_patterns)]
    let Some(RequestContext::ApiGatewayV2(ctx)) = context
    else {
        return Err(refused());
    };
    let Some(authorizer) = &ctx.authorizer else {
        return Err(refused());
    };
    if let Some(iam) = &authorizer.iam {
        let who = iam
            .user_arn
            .clone()
            .or_else(|| iam.caller_id.clone())
            .or_else(|| iam.access_key.as_ref().map(|k| format!("access key {k}")));
        if let Some(who) = who {
            return Ok(who);
        }
    }
    if let Some(jwt) = &authorizer.jwt {
        let scopes: Vec<&str> = match &jwt.scopes {
            Some(list) => list.iter().map(String::as_str).collect(),
            // Cognito and others put the scopes in the `scope` claim, space-separated.
            None => jwt
                .claims
                .get("scope")
                .map(|s| s.split_whitespace().collect())
                .unwrap_or_default(),
        };
        if !scopes.contains(&scope) {
            return Err(ApiError::forbidden(format!(
                "DELETE /events needs the JWT scope {scope}"
            )));
        }
        return Ok(jwt
            .claims
            .get("sub")
            .map(|s| format!("jwt sub {s}"))
            .unwrap_or_else(|| "jwt (no sub)".into()));
    }
    Err(refused())
}
