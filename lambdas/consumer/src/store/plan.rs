//! Which events of a batch to insert, decided in memory before any statement.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use super::NewEvent;

/// Which of `items` to insert given the ids already `known` to be stored: `(accepted, undecided)`,
/// `accepted` as (index, unresolved parent — `None` = linked), `undecided` waiting for a parent.
///
/// An event is accepted linked when it names no parent, or a known one, or one accepted before
/// it (any order in the batch); when no more links are possible, last-receive events are accepted
/// unlinked and their children may link in turn.
pub(super) fn decide(
    items: &[NewEvent],
    candidates: Vec<usize>,
    mut known: HashSet<Uuid>,
) -> (Vec<(usize, Option<Uuid>)>, Vec<usize>) {
    let mut accepted: Vec<(usize, Option<Uuid>)> = Vec::new();
    let mut undecided = candidates;
    loop {
        let before = undecided.len();
        undecided.retain(|&i| match items[i].event.previous_event_id {
            // A self-reference can never be a link: stored at once with the id kept unresolved.
            Some(p) if p == items[i].event.event_id => {
                accepted.push((i, Some(p)));
                known.insert(p);
                false
            }
            Some(p) if !known.contains(&p) => true,
            _ => {
                accepted.push((i, None));
                known.insert(items[i].event.event_id);
                false
            }
        });
        if undecided.len() < before {
            continue;
        }
        // No more links possible: store the last-receive ones unlinked; their children may link.
        undecided.retain(|&i| {
            if items[i].last_receive {
                accepted.push((i, items[i].event.previous_event_id));
                known.insert(items[i].event.event_id);
                false
            } else {
                true
            }
        });
        if undecided.len() == before {
            break;
        }
    }
    (accepted, undecided)
}

/// The batch statement: inserts the accepted rows, links children stored earlier without one of
/// the inserted rows as parent (the foreign key is checked at the end of the whole statement, so
/// a child may point at a row inserted by the same statement), and reads the published state of
/// the rows that existed before it (the statement's snapshot; not looked up at all when every
/// row was new). One round trip, autocommit. Per new event it costs the bare insert's index
/// probes plus one per parent named from outside the batch (and, only while some row waits
/// unlinked, one of the small partial index of unlinked rows).
///
/// `$17` lists parents outside the batch that the caller assumed stored: the statement inserts
/// nothing unless every one of them exists, and then returns which do (so that the caller can
/// decide again without another lookup).
///
/// `$18` (seconds, or NULL): the rows it inserts (not `on_bus`) take the publish lease for the
/// caller, so that no claim statement follows. `$19` (seconds, or NULL): the cheap check of the
/// sweep, whether the outbox has rows unpublished that long with a free lease (an index range of
/// the small partial outbox index).
///
/// Rows: `(event_id, kind, flag, linked, stale)` with kind 0 = inserted now (flag: inserted with
/// the lease of `$18`), 1 = batch event that existed before (flag: needs nothing from the bus;/// For the `accepted` events stored unlinked whose missing parent is accepted too (both on their
/// last receive), the parent to link them to at once: only where the link closes no cycle (a
/// self-reference, or A and B naming each other, keeps its id unresolved).
pub(super) fn in_batch_links(
    items: &[NewEvent],
    accepted: &[(usize, Option<Uuid>)],
) -> HashMap<Uuid, Uuid> {
    let parent_of: HashMap<Uuid, Option<Uuid>> = accepted
        .iter()
        .map(|&(i, missing)| {
            let e = &items[i].event;
            (
                e.event_id,
                if missing.is_some() {
                    None
                } else {
                    e.previous_event_id
                },
            )
        })
        .collect();
    let mut links: HashMap<Uuid, Uuid> = HashMap::new();
    // In event-id order, so that every caller decides the same links.
    let mut order = accepted.to_vec();
    order.sort_unstable_by_key(|&(i, _)| items[i].event.event_id);
    for (i, missing) in order {
        let id = items[i].event.event_id;
        let Some(p) = missing.filter(|p| parent_of.contains_key(p) && *p != id) else {
            continue;
        };
        // Walk up from the parent through this batch's links; reaching `id` is a cycle.
        let mut current = Some(p);
        let mut steps = 0;
        let mut cycle = false;
        while let Some(c) = current {
            if c == id {
                cycle = true;
                break;
            }
            steps += 1;
            if steps > accepted.len() {
                break;
            }
            current = links
                .get(&c)
                .copied()
                .or_else(|| parent_of.get(&c).copied().flatten());
        }
        if !cycle {
            links.insert(id, p);
        }
    }
    links
}

#[cfg(test)]
mod tests {
    use kx_events::TrackedEvent;

    use super::*;

    fn item(id: Uuid, previous: Option<Uuid>, last_receive: bool) -> NewEvent {
        let mut e = TrackedEvent::new("client_123", "order", "order_created");
        e.event_id = id;
        e.previous_event_id = previous;
        NewEvent {
            event: e,
            on_bus: false,
            last_receive,
        }
    }

    fn sorted(mut v: Vec<(usize, Option<Uuid>)>) -> Vec<(usize, Option<Uuid>)> {
        v.sort_unstable();
        v
    }

    #[test]
    fn in_batch_chains_are_decided_without_a_lookup_in_any_order() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let items = [
            item(c, Some(b), false),
            item(b, Some(a), false),
            item(a, None, false),
        ];
        let (accepted, undecided) = decide(&items, vec![0, 1, 2], HashSet::new());
        assert!(undecided.is_empty());
        assert_eq!(sorted(accepted), vec![(0, None), (1, None), (2, None)]);
    }

    #[test]
    fn a_cycle_waits_like_a_missing_parent_and_a_self_reference_is_stored_unlinked() {
        let (a, b, s) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let items = [
            item(a, Some(b), false),
            item(b, Some(a), false),
            item(s, Some(s), false),
        ];
        let (accepted, undecided) = decide(&items, vec![0, 1, 2], HashSet::new());
        // Waiting can never make a self-reference a link: it is stored unlinked at once.
        assert_eq!(accepted, vec![(2, Some(s))]);
        assert_eq!(undecided, vec![0, 1]);
        // On their last receive the cycle is stored with one link at most.
        let items = [
            item(a, Some(b), true),
            item(b, Some(a), true),
            item(s, Some(s), true),
        ];
        let (accepted, undecided) = decide(&items, vec![0, 1, 2], HashSet::new());
        assert!(undecided.is_empty());
        let links = in_batch_links(&items, &accepted);
        assert_eq!(links.len(), 1, "{links:?}");
        assert!(!links.contains_key(&s));
    }

    #[test]
    fn last_receive_events_of_one_round_are_accepted_unlinked_together() {
        // `child` names `parent`, which names a missing event: both on their last receive are
        // accepted unlinked in the same round (store_batch then links child to parent at once).
        let (missing, parent, child) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let items = [
            item(child, Some(parent), true),
            item(parent, Some(missing), true),
        ];
        let (accepted, undecided) = decide(&items, vec![0, 1], HashSet::new());
        assert!(undecided.is_empty());
        assert_eq!(
            sorted(accepted),
            vec![(0, Some(parent)), (1, Some(missing))]
        );
        // With the parent known (stored), the child is linked and only the parent waits.
        let items = [
            item(child, Some(parent), false),
            item(parent, Some(missing), false),
        ];
        let (accepted, undecided) = decide(&items, vec![0], [parent].into_iter().collect());
        assert_eq!((accepted, undecided), (vec![(0, None)], vec![]));
    }
}
