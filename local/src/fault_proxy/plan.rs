//! What the proxy does with one request: the installed faults, matched against its
//! `X-Amz-Target` and (for `PutEvents` / `SendMessageBatch`) its entries.
//!
//! Whole-request faults are checked first; the first one that matches with uses left decides.
//! Otherwise every entry is offered to every entry fault of the target in order (each fault
//! counts the entries it sees, for [`EntrySelector::EveryNth`]), and the first that selects it
//! fails it. A fault is removed when its last use is taken.

use super::{EntrySelector, FaultKind, ProxyState, PUT_EVENTS};
use http::StatusCode;
use serde_json::Value;

/// What the proxy decided to do with a request.
pub(super) enum Plan {
    Forward,
    Fail(StatusCode, Option<String>),
    /// Fail these entry positions (sorted).
    FailEntries(Vec<(usize, Option<String>)>),
}

fn payload_field(target: &str) -> &'static str {
    if target == PUT_EVENTS {
        "Detail"
    } else {
        "MessageBody"
    }
}

/// Takes one use of the first delay fault for `target`, if any.
pub(super) fn take_delay(state: &mut ProxyState, target: &str) -> Option<std::time::Duration> {
    let fault = state.faults.iter_mut().find(|f| {
        f.target == target && matches!(f.kind, FaultKind::Delay { .. }) && f.remaining != Some(0)
    })?;
    if let Some(left) = fault.remaining.as_mut() {
        *left -= 1;
    }
    let FaultKind::Delay { delay } = fault.kind else {
        unreachable!()
    };
    state.faults.retain(|f| f.remaining != Some(0));
    Some(delay)
}

pub(super) fn plan(state: &mut ProxyState, target: &str, body: Option<&Value>) -> Plan {
    // Whole-request faults first.
    if let Some(fault) = state.faults.iter_mut().find(|f| {
        f.target == target && matches!(f.kind, FaultKind::Request { .. }) && f.remaining != Some(0)
    }) {
        if let Some(left) = fault.remaining.as_mut() {
            *left -= 1;
        }
        let FaultKind::Request { status, code } = &fault.kind else {
            unreachable!()
        };
        let plan = Plan::Fail(*status, code.clone());
        state.faults.retain(|f| f.remaining != Some(0));
        return plan;
    }
    let Some(entries) = body.and_then(|b| b["Entries"].as_array()) else {
        return Plan::Forward;
    };
    let field = payload_field(target);
    let mut failing = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let payload = entry[field].as_str().unwrap_or_default();
        let mut fail: Option<Option<String>> = None;
        for fault in state.faults.iter_mut().filter(|f| f.target == target) {
            let FaultKind::Entries {
                selector,
                seen,
                code,
            } = &mut fault.kind
            else {
                continue;
            };
            *seen += 1;
            if fail.is_some() || fault.remaining == Some(0) {
                continue;
            }
            let selected = match selector {
                EntrySelector::All => true,
                EntrySelector::EveryNth(k) => *seen % *k == 0,
                EntrySelector::PayloadContains(text) => payload.contains(text.as_str()),
            };
            if selected {
                fail = Some(code.clone());
                if let Some(left) = fault.remaining.as_mut() {
                    *left -= 1;
                }
            }
        }
        if let Some(code) = fail {
            failing.push((index, code));
        }
    }
    state.faults.retain(|f| f.remaining != Some(0));
    if failing.is_empty() {
        Plan::Forward
    } else {
        Plan::FailEntries(failing)
    }
}
