//! Compile-fail and pass cases of ele's macros; regenerate snapshots with `TRYBUILD=overwrite`, then read them.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/resource/*.rs");
    t.compile_fail("tests/ui/incremental/*.rs");
    t.compile_fail("tests/ui/source/*.rs");
    t.compile_fail("tests/ui/item/*.rs");
    t.compile_fail("tests/ui/config/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
