//! todo.txt: an import followed by an export gives back every non-empty line exactly.

use std::process::Command;

use crate::helpers::*;

const FIXTURE: &str = include_str!("../fixtures/todo.txt");

#[tokio::test]
async fn real_world_file_round_trips_through_the_page() {
    let app = logged_in_app().await;
    let res = app.upload_todotxt(FIXTURE, "header").await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    let expected: Vec<&str> = FIXTURE.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(page.contains(&format!("Imported {} tasks", expected.len())), "{page}");
    for problem in ["line 19: due:2027-02-30", "line 20: t:someday", "line 20: rec:0x"] {
        assert!(page.contains(problem), "{problem} reported");
    }
    let exported = app.get("/tasks/export").await.text().await.unwrap();
    assert_eq!(exported.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn real_world_file_round_trips_through_the_cli_with_crlf_and_bom() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let input = dir.path().join("in.txt");
    let windows = format!("\u{feff}{}", FIXTURE.replace('\n', "\r\n"));
    std::fs::write(&input, windows).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_steward"))
            .arg("--db")
            .arg(&db)
            .args(args)
            .env("STEWARD_TIMEZONE", "Europe/Berlin")
            .output()
            .unwrap()
    };
    let out = run(&["import", "todotxt", input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(":19: due:2027-02-30"), "{stderr}");
    let out = run(&["export", "todotxt"]);
    assert!(out.status.success());
    let exported = String::from_utf8(out.stdout).unwrap();
    let expected: Vec<&str> = FIXTURE.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(exported.lines().collect::<Vec<_>>(), expected);
}
