//! The database roles of a deployment, and exactly what each may do.
//!
//! The owner (the RDS master user, or whoever created the database) runs the migrations; the
//! consumer runs with DML on `events` and a read of the migrations table, nothing more (it never
//! needs DDL at cold start); the query side reads. `bootstrap migrate` (and the migrate function
//! that Terraform invokes at apply time) creates or updates these roles and grants after the
//! migrations, so that every new table gets its grants in the same run.

use crate::config::ConfigError;

/// What a role is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleKind {
    /// The consumer: `SELECT, INSERT, UPDATE` on `events`, `SELECT` on `kx_schema_migrations`.
    Consumer,
    /// Readers (query API, CLI): `SELECT` on `events` and `kx_schema_migrations`.
    ReadOnly,
    /// Erasure for data-protection requests (the query API's `DELETE /events`): `SELECT, DELETE`
    /// on `events` and `SELECT` on `kx_schema_migrations`. Children of an erased event keep their
    /// rows: the foreign key's `ON DELETE SET NULL` runs with the table owner's rights.
    Eraser,
}

/// The default name of the consumer's role.
pub const DEFAULT_CONSUMER_ROLE: &str = "kx_events_consumer";
/// The default name of the read-only role.
pub const DEFAULT_READ_ONLY_ROLE: &str = "kx_events_query";
/// The default name of the erasure role.
pub const DEFAULT_ERASER_ROLE: &str = "kx_events_eraser";

/// Checks a role name: a lower-case SQL identifier (`[a-z_][a-z0-9_]*`, at most 63 bytes), so
/// that it never needs quoting. `setting` names the variable in the error.
pub fn validate_role_name(setting: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            setting,
            format!("must be a lower-case identifier ([a-z_][a-z0-9_]*, at most 63 characters), got {name:?}"),
        ))
    }
}

/// The `GRANT` statements that give `role` what `kind` needs in database `dbname` (the README's
/// list is this one). `role` must have passed [`validate_role_name`].
pub fn grant_statements(kind: RoleKind, role: &str, dbname: &str) -> Vec<String> {
    let db = quote_ident(dbname);
    let mut out = vec![
        format!("GRANT CONNECT ON DATABASE {db} TO {role}"),
        format!("GRANT USAGE ON SCHEMA public TO {role}"),
    ];
    match kind {
        RoleKind::Consumer => {
            out.push(format!(
                "GRANT SELECT, INSERT, UPDATE ON TABLE events TO {role}"
            ));
            out.push(format!(
                "GRANT SELECT ON TABLE {} TO {role}",
                crate::migrate::MIGRATIONS_TABLE
            ));
        }
        RoleKind::ReadOnly => {
            out.push(format!("GRANT SELECT ON TABLE events TO {role}"));
            out.push(format!(
                "GRANT SELECT ON TABLE {} TO {role}",
                crate::migrate::MIGRATIONS_TABLE
            ));
        }
        RoleKind::Eraser => {
            out.push(format!("GRANT SELECT, DELETE ON TABLE events TO {role}"));
            out.push(format!(
                "GRANT SELECT ON TABLE {} TO {role}",
                crate::migrate::MIGRATIONS_TABLE
            ));
        }
    }
    out
}

/// `"name"` with inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with inner quotes doubled (standard_conforming_strings is on in every supported
/// PostgreSQL).
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Creates `role` (LOGIN, with `password`) or updates its password, then grants what `kind`
/// needs. One transaction; idempotent.
pub(crate) fn ensure_role(
    client: &mut postgres::Client,
    kind: RoleKind,
    role: &str,
    password: &str,
) -> Result<(), postgres::Error> {
    let dbname: String = client.query_one("SELECT current_database()", &[])?.get(0);
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
            &[&role],
        )?
        .get(0);
    let mut tx = client.transaction()?;
    let verb = if exists { "ALTER" } else { "CREATE" };
    tx.batch_execute(&format!(
        "{verb} ROLE {role} LOGIN PASSWORD {}",
        quote_literal(password)
    ))?;
    for grant in grant_statements(kind, role, &dbname) {
        tx.batch_execute(&grant)?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_plain_identifiers() {
        for ok in ["kx_events_consumer", "_a1", "a"] {
            validate_role_name("R", ok).unwrap();
        }
        for bad in ["", "Kx", "1a", "a-b", "a;drop", "a b", &"a".repeat(64)] {
            let e = validate_role_name("KX_APP_ROLE_NAME", bad).unwrap_err();
            assert_eq!(e.setting, "KX_APP_ROLE_NAME");
        }
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_literal("a'b"), "'a''b'");
        assert_eq!(quote_ident("my\"db"), "\"my\"\"db\"");
    }
}
