//! The backend's row model, the same on both engines: columns are read by
//! the name the select list gives them (an expression by its alias), and
//! a name or position the row does not have is a decoding error, not a
//! wrong value.

use praxis_server::store::StoreError;
use praxis_tests::StoreFixture;

praxis_tests::store_suite!(columns_are_read_by_their_select_list_names);

async fn columns_are_read_by_their_select_list_names(f: StoreFixture) {
    let rows = f
        .store
        .db()
        .query(
            "SELECT CAST('held' AS TEXT) AS state, 7 AS n, COUNT(*) AS total FROM users",
            vec![],
        )
        .await
        .expect("query");
    let r = &rows[0];
    assert_eq!(r.text("state").expect("by name"), "held");
    assert_eq!(r.i64("n").expect("by name"), 7);
    assert_eq!(r.i64("total").expect("aliased count"), 0);
    assert_eq!(r.i64(1).expect("by position"), 7);
    for missing in [r.i64("count"), r.i64("N"), r.i64(3)] {
        assert!(matches!(missing, Err(StoreError::Decode(_))), "{missing:?}");
    }
    assert!(
        matches!(r.i64("state"), Err(StoreError::Decode(_))),
        "a type mismatch"
    );

    // A qualified column without an alias is named by its column alone,
    // on both engines (the decoders rely on it).
    super::account(&f, "col").await;
    let rows = f
        .store
        .db()
        .query(
            "SELECT u.id, u.created_at FROM users AS u JOIN users AS v ON v.id = u.id",
            vec![],
        )
        .await
        .expect("query");
    assert_eq!(rows.len(), 1);
    rows[0].uuid("id").expect("u.id is named id");
    assert_eq!(
        rows[0].i64("created_at").expect("named"),
        f.now().timestamp_millis()
    );
}
