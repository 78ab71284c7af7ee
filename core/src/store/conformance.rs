//! The invariants of [`Store`], checked against every engine: sled always, PostgreSQL when
//! `VERBUND_TEST_POSTGRES` names a server (CI always does; there a missing server fails).

use std::collections::HashSet;
use std::sync::Arc;

use super::*;

fn engines() -> Vec<(String, Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut out: Vec<(String, Arc<dyn Store>, Option<tempfile::TempDir>)> = vec![(
        "sled".into(),
        Arc::new(SledStore::open(dir.path()).unwrap()),
        Some(dir),
    )];
    match std::env::var("VERBUND_TEST_POSTGRES") {
        Ok(server) => {
            let url = postgres::scratch_schema(&server).unwrap();
            out.push((
                "postgres".into(),
                Arc::new(PgStore::open(&url).unwrap()),
                None,
            ));
        }
        Err(_) => assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the store tests on PostgreSQL too: set VERBUND_TEST_POSTGRES (tests/run does)"
        ),
    }
    out
}

#[test]
fn a_batch_whose_check_fails_leaves_no_trace() {
    for (engine, store, _dir) in engines() {
        let mut b = WriteBatch::new();
        b.put(Tree::Entries, b"a".to_vec(), b"1".to_vec());
        b.change(b"created a".to_vec());
        store.commit(b).unwrap();

        let mut b = WriteBatch::new();
        b.check(Tree::Entries, b"a".to_vec(), Expect::Absent);
        b.put(Tree::Entries, b"b".to_vec(), b"2".to_vec());
        b.change(b"created b".to_vec());
        let err = store.commit(b).unwrap_err();
        assert!(
            matches!(err, StoreError::CheckFailed { .. }),
            "{engine}: {err}"
        );
        assert_eq!(store.get(Tree::Entries, b"b").unwrap(), None, "{engine}");
        assert_eq!(store.last_seq().unwrap(), 1, "{engine}");

        let mut b = WriteBatch::new();
        b.check(Tree::Entries, b"a".to_vec(), Expect::Equals(b"2".to_vec()));
        b.remove(Tree::Entries, b"a".to_vec());
        assert!(
            store.commit(b).is_err(),
            "{engine}: Equals with other bytes"
        );
        let mut b = WriteBatch::new();
        b.check(Tree::Entries, b"a".to_vec(), Expect::Equals(b"1".to_vec()));
        b.check(Tree::Entries, b"zz".to_vec(), Expect::Absent);
        b.check(Tree::Entries, b"a".to_vec(), Expect::Present);
        b.put(Tree::Entries, b"a".to_vec(), b"x".to_vec());
        b.remove(Tree::Entries, b"a".to_vec());
        b.put(Tree::Entries, b"c".to_vec(), b"3".to_vec());
        store.commit(b).unwrap();
        assert_eq!(
            store.get(Tree::Entries, b"a").unwrap(),
            None,
            "{engine}: the last write of a key wins"
        );
        assert_eq!(
            store.get(Tree::Entries, b"c").unwrap(),
            Some(b"3".to_vec()),
            "{engine}"
        );
    }
}

#[test]
fn concurrent_commits_get_gap_free_sequence_numbers_in_commit_order() {
    for (engine, store, _dir) in engines() {
        let threads: Vec<_> = (0..8u8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    for i in 0..40u8 {
                        let mut b = WriteBatch::new();
                        b.put(Tree::Entries, vec![t, i], vec![i]);
                        b.change(vec![t, i, 0]);
                        b.change(vec![t, i, 1]);
                        let c = store.commit(b).unwrap();
                        let first = c.first_seq.unwrap();
                        assert_eq!(c.last_seq, first + 1);
                        seen.push(first);
                    }
                    seen
                })
            })
            .collect();
        let mut firsts = HashSet::new();
        for t in threads {
            let seen = t.join().unwrap();
            assert!(
                seen.windows(2).all(|w| w[0] < w[1]),
                "{engine}: one thread's commits are ordered"
            );
            firsts.extend(seen);
        }
        let feed = store.changes_since(0, 10_000).unwrap();
        let seqs: Vec<u64> = feed.iter().map(|c| c.seq).collect();
        assert_eq!(seqs, (1..=640).collect::<Vec<_>>(), "{engine}: gap-free");
        assert_eq!(store.last_seq().unwrap(), 640, "{engine}");
        for c in &feed {
            // The two events of one batch are neighbours, in the batch's order.
            if c.payload[2] == 0 {
                assert!(firsts.contains(&c.seq), "{engine}");
                let next = &feed[usize::try_from(c.seq).unwrap()];
                assert_eq!(
                    next.payload,
                    vec![c.payload[0], c.payload[1], 1],
                    "{engine}"
                );
            }
        }
        assert_eq!(store.changes_since(600, 5).unwrap()[0].seq, 601, "{engine}");
    }
}

#[test]
fn checked_read_modify_writes_lose_no_update() {
    for (engine, store, _dir) in engines() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        loop {
                            let old = store.get(Tree::Meta, b"counter").unwrap();
                            let n = old.as_ref().map_or(0, |v| v[0]);
                            let mut b = WriteBatch::new();
                            let expect = match old {
                                Some(v) => Expect::Equals(v),
                                None => Expect::Absent,
                            };
                            b.check(Tree::Meta, b"counter".to_vec(), expect);
                            b.put(Tree::Meta, b"counter".to_vec(), vec![n + 1]);
                            match store.commit(b) {
                                Ok(_) => break,
                                Err(StoreError::CheckFailed { .. }) => continue,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            store.get(Tree::Meta, b"counter").unwrap(),
            Some(vec![100]),
            "{engine}"
        );
    }
}

#[test]
fn scans_order_keys_bytewise() {
    for (engine, store, _dir) in engines() {
        let mut b = WriteBatch::new();
        for k in [&b"a\0b"[..], b"a\0a", b"a\xff", b"a", b"b", b"a\0a\0"] {
            b.put(Tree::Index, k.to_vec(), k.to_vec());
        }
        b.put(Tree::Slugs, b"a\0other-tree".to_vec(), b"x".to_vec());
        store.commit(b).unwrap();
        let keys = |pairs: Vec<KvPair>| pairs.into_iter().map(|p| p.0).collect::<Vec<_>>();
        assert_eq!(
            keys(store.scan_prefix(Tree::Index, b"a\0", false, 10).unwrap()),
            vec![b"a\0a".to_vec(), b"a\0a\0".to_vec(), b"a\0b".to_vec()],
            "{engine}"
        );
        assert_eq!(
            keys(store.scan_prefix(Tree::Index, b"a", true, 2).unwrap()),
            vec![b"a\xff".to_vec(), b"a\0b".to_vec()],
            "{engine}"
        );
        assert_eq!(
            store
                .scan_prefix(Tree::Index, b"", false, 100)
                .unwrap()
                .len(),
            6,
            "{engine}"
        );
        assert_eq!(
            keys(
                store
                    .scan_range(Tree::Index, b"a\0a\0", b"b", false, 10)
                    .unwrap()
            ),
            vec![b"a\0a\0".to_vec(), b"a\0b".to_vec(), b"a\xff".to_vec()],
            "{engine}"
        );
        assert_eq!(
            store
                .scan_range_keys(Tree::Index, b"a", b"a\0b", 10)
                .unwrap(),
            vec![b"a".to_vec(), b"a\0a".to_vec(), b"a\0a\0".to_vec()],
            "{engine}"
        );
        let mut visited = Vec::new();
        store
            .visit_range(Tree::Index, b"a", b"c", true, &mut |k, v| {
                assert_eq!(k, v);
                visited.push(k.to_vec());
                visited.len() < 3
            })
            .unwrap();
        assert_eq!(
            visited,
            vec![b"b".to_vec(), b"a\xff".to_vec(), b"a\0b".to_vec()],
            "{engine}"
        );
        assert_eq!(
            store
                .get_many(
                    Tree::Index,
                    &[b"b".to_vec(), b"nope".to_vec(), b"a".to_vec()]
                )
                .unwrap(),
            vec![Some(b"b".to_vec()), None, Some(b"a".to_vec())],
            "{engine}"
        );
    }
}

#[test]
fn a_snapshot_holds_every_pair_of_every_tree() {
    for (engine, store, _dir) in engines() {
        let mut b = WriteBatch::new();
        for i in 0..2500u32 {
            b.put(Tree::Revisions, i.to_be_bytes().to_vec(), vec![1; 10]);
        }
        b.put(Tree::Tokens, b"t".to_vec(), b"v".to_vec());
        b.change(b"c".to_vec());
        store.commit(b).unwrap();
        let mut per_tree = std::collections::HashMap::new();
        store
            .snapshot(&mut |tree, _, _| {
                *per_tree.entry(tree).or_insert(0) += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(per_tree[&Tree::Revisions], 2500, "{engine}");
        assert_eq!(per_tree[&Tree::Tokens], 1, "{engine}");
        assert_eq!(per_tree[&Tree::Changes], 1, "{engine}");
    }
}

#[test]
fn counter_increments_need_no_check_and_lose_nothing() {
    for (engine, store, _dir) in engines() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..30 {
                        let mut b = WriteBatch::new();
                        b.add(Tree::Meta, b"count".to_vec(), 2);
                        b.add(Tree::Meta, b"count".to_vec(), -1);
                        b.add(Tree::Refs, b"other".to_vec(), 1);
                        store.commit(b).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let value = |k: &[u8], t| {
            store
                .get(t, k)
                .unwrap()
                .map(|v| u64::from_be_bytes(v.try_into().unwrap()))
        };
        assert_eq!(value(b"count", Tree::Meta), Some(120), "{engine}");
        assert_eq!(value(b"other", Tree::Refs), Some(120), "{engine}");
        let mut b = WriteBatch::new();
        b.put(Tree::Meta, b"count".to_vec(), 5u64.to_be_bytes().to_vec());
        b.add(Tree::Meta, b"count".to_vec(), -5);
        store.commit(b).unwrap();
        assert_eq!(
            value(b"count", Tree::Meta),
            None,
            "{engine}: a counter at 0 is removed"
        );
    }
}

#[test]
fn derived_writes_extend_a_chain_from_its_head_at_commit_time() {
    // A chain as the audit log keeps one: `head` holds the number of the last link, each
    // commit appends link head+1 without checking the head first.
    fn link(head: Option<&[u8]>, who: &str) -> Vec<(Tree, Vec<u8>, Vec<u8>)> {
        let n = counter(head) + 1;
        vec![
            (
                Tree::Audit,
                n.to_be_bytes().to_vec(),
                who.as_bytes().to_vec(),
            ),
            (Tree::Meta, b"head".to_vec(), n.to_be_bytes().to_vec()),
        ]
    }
    for (engine, store, _dir) in engines() {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..25 {
                        let mut b = WriteBatch::new();
                        b.put(
                            Tree::Entries,
                            format!("{t}/{i}").into_bytes(),
                            b"x".to_vec(),
                        );
                        let who = format!("{t}/{i}");
                        b.derive(Tree::Meta, b"head".to_vec(), move |h| link(h, &who));
                        // Two links in one batch: the second starts from the first.
                        if i % 5 == 0 {
                            let who = format!("{t}/{i}b");
                            b.derive(Tree::Meta, b"head".to_vec(), move |h| link(h, &who));
                        }
                        store.commit(b).expect("no conflict: nothing was checked");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let links = store
            .scan_range(Tree::Audit, &[], &prefix_end(&[]), false, 1000)
            .unwrap();
        let expected = 8 * (25 + 5);
        assert_eq!(links.len(), expected, "{engine}: a link was lost");
        for (i, (k, _)) in links.iter().enumerate() {
            assert_eq!(counter(Some(k)), i as u64 + 1, "{engine}: gap in the chain");
        }
        assert_eq!(
            counter(store.get(Tree::Meta, b"head").unwrap().as_deref()),
            expected as u64
        );
        let names: HashSet<Vec<u8>> = links.into_iter().map(|(_, v)| v).collect();
        assert_eq!(names.len(), expected, "{engine}: a link was overwritten");
    }
}

#[test]
fn among_concurrent_batches_a_failed_check_fails_only_its_own_batch() {
    for (engine, store, _dir) in engines() {
        for round in 0..5 {
            let claim = format!("claim/{round}").into_bytes();
            let threads: Vec<_> = (0..8)
                .map(|t| {
                    let (store, claim) = (store.clone(), claim.clone());
                    std::thread::spawn(move || {
                        // Every thread writes something of its own, half of them also try to
                        // take the one claim.
                        let mut b = WriteBatch::new();
                        b.put(
                            Tree::Refs,
                            format!("{round}/{t}").into_bytes(),
                            b"x".to_vec(),
                        );
                        b.change(format!("{round}/{t}").into_bytes());
                        if t % 2 == 0 {
                            b.check(Tree::Meta, claim.clone(), Expect::Absent);
                            b.put(Tree::Meta, claim, format!("{t}").into_bytes());
                        }
                        (t, store.commit(b))
                    })
                })
                .collect();
            let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            let won: Vec<usize> = results
                .iter()
                .filter(|(t, r)| t % 2 == 0 && r.is_ok())
                .map(|(t, _)| *t)
                .collect();
            assert_eq!(won.len(), 1, "{engine}: exactly one takes the claim");
            assert_eq!(
                store.get(Tree::Meta, &claim).unwrap(),
                Some(won[0].to_string().into_bytes())
            );
            for (t, r) in &results {
                let mine = store
                    .get(Tree::Refs, format!("{round}/{t}").as_bytes())
                    .unwrap();
                match r {
                    Ok(_) => assert!(mine.is_some(), "{engine}: {t} committed"),
                    Err(StoreError::CheckFailed { .. }) => {
                        assert!(mine.is_none(), "{engine}: {t} failed and left nothing")
                    }
                    Err(e) => panic!("{engine}: {e}"),
                }
            }
            assert_eq!(
                results.iter().filter(|(_, r)| r.is_ok()).count(),
                5,
                "{engine}: the four without the claim and its winner commit"
            );
        }
        let seqs: Vec<u64> = store
            .changes_since(0, 1000)
            .unwrap()
            .iter()
            .map(|c| c.seq)
            .collect();
        assert_eq!(seqs, (1..=25).collect::<Vec<_>>(), "{engine}: gap-free");
    }
}

#[test]
fn a_pointer_is_followed_to_its_target() {
    for (engine, store, _dir) in engines() {
        let mut b = WriteBatch::new();
        b.put(Tree::Slugs, b"story\0de\0hallo".to_vec(), b"01ABC".to_vec());
        b.put(
            Tree::Published,
            b"story\x0001ABC".to_vec(),
            b"{\"ok\":1}".to_vec(),
        );
        b.put(
            Tree::Slugs,
            b"story\0de\0verwaist".to_vec(),
            b"01XYZ".to_vec(),
        );
        store.commit(b).unwrap();
        let follow = |slug: &[u8]| {
            store
                .get_through(Tree::Slugs, slug, Tree::Published, b"story\0")
                .unwrap()
        };
        assert_eq!(
            follow(b"story\0de\0hallo"),
            Some(b"{\"ok\":1}".to_vec()),
            "{engine}"
        );
        assert_eq!(follow(b"story\0de\0verwaist"), None, "{engine}: no target");
        assert_eq!(follow(b"story\0de\0fehlt"), None, "{engine}: no pointer");
    }
}
