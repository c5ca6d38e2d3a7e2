//! Statements built from fixed fragments chosen by code; every value is a bind parameter.

use postgres::types::ToSql;
use postgres::GenericClient;

use crate::error::Error;

use crate::params::Filter;

/// A statement under construction: its text (only fixed fragments and `$n` placeholders) and
/// its parameters.
#[derive(Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    params: Vec<Box<dyn ToSql + Sync>>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            params: Vec::new(),
        }
    }

    /// Appends a fixed fragment.
    pub(crate) fn push(&mut self, fragment: &'static str) {
        self.text.push_str(fragment);
    }

    /// Binds `value` and appends its placeholder (`$n`).
    pub(crate) fn bind(&mut self, value: impl ToSql + Sync + 'static) {
        self.params.push(Box::new(value));
        self.text.push('$');
        self.text.push_str(&self.params.len().to_string());
    }

    /// `fragment` followed by the placeholder of `value`.
    pub(crate) fn and(&mut self, fragment: &'static str, value: impl ToSql + Sync + 'static) {
        self.push(fragment);
        self.bind(value);
    }

    pub(crate) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref()).collect()
    }

    /// ` AND …` for each set filter of `f` (on the alias `e`), each condition on a column that
    /// leads an index (see migrations/0001 and 0004 for which index serves which filter).
    pub(crate) fn filter(&mut self, f: &Filter) {
        let text = [
            // idx_events_client_time (client_id, occurred_at)
            (" AND e.client_id = ", &f.client_id),
            // idx_events_user_time (user_id, occurred_at)
            (" AND e.user_id = ", &f.user_id),
            // idx_events_entity_time (entity_id, occurred_at), 0004
            (" AND e.entity_id = ", &f.entity_id),
            // idx_events_entity_type_time (entity_type, occurred_at), 0004
            (" AND e.entity_type = ", &f.entity_type),
            // idx_events_type_time (event_type, occurred_at)
            (" AND e.event_type = ", &f.event_type),
            // idx_events_source_time (source, occurred_at), 0004
            (" AND e.source = ", &f.source),
            // idx_events_campaign_time (campaign_id, occurred_at)
            (" AND e.campaign_id = ", &f.campaign_id),
            // idx_events_session_time (session_id, occurred_at), 0004
            (" AND e.session_id = ", &f.session_id),
        ];
        for (fragment, value) in text {
            if let Some(v) = value {
                self.and(fragment, v.clone());
            }
        }
        // With no other filter: idx_events_time_id (occurred_at, event_id), 0004; otherwise the
        // second column of the filter's index.
        if let Some(t) = f.start {
            self.and(" AND e.occurred_at >= ", t);
        }
        if let Some(t) = f.end {
            self.and(" AND e.occurred_at < ", t);
        }
        // idx_events_metadata_path_gin (GIN, jsonb_path_ops), 0004: the TypeScript system's
        // jsonb_ops index cannot narrow a key that every row has
        if let Some(m) = &f.metadata {
            self.and(" AND e.metadata @> ", serde_json::Value::Object(m.clone()));
        }
    }
}

/// `EXPLAIN` of `sql` with its parameters, one line per element.
pub(crate) fn explain(client: &mut impl GenericClient, sql: &Sql) -> Result<Vec<String>, Error> {
    let text = format!("EXPLAIN {}", sql.text);
    let rows = client.query(text.as_str(), &sql.params())?;
    Ok(rows
        .iter()
        .map(|r| r.try_get::<_, String>(0))
        .collect::<Result<_, _>>()?)
}
