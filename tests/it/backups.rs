//! `steward backup DIR --keep N` rotation and `steward restore FILE` (issue 16, operations).

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn steward(db: &Path, args: &[&str]) -> Output {
    crate::helpers::steward_cli(db, args, &[], "")
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

#[test]
fn backup_into_a_directory_keeps_the_newest_n_and_refuses_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("steward.db");
    assert!(steward(&db, &["task", "add", "Alpha"]).status.success());
    let backups = dir.path().join("backups");
    std::fs::create_dir(&backups).unwrap();
    // Older backups from earlier days, and a file that is not one of Steward's backups.
    for old in ["steward-20200101T030000Z.db", "steward-20200102T030000Z.db", "steward-20200103T030000Z.db"] {
        std::fs::write(backups.join(old), b"old").unwrap();
    }
    std::fs::write(backups.join("notes.txt"), b"mine").unwrap();

    let o = steward(&db, &["backup", backups.to_str().unwrap(), "--keep", "2"]);
    assert!(o.status.success(), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.contains("Removed the older backup") && text.contains("steward-20200101T030000Z.db"),
        "{text}"
    );
    assert!(text.contains("steward-20200102T030000Z.db"), "{text}");
    let left = names_in(&backups);
    assert_eq!(left.len(), 3, "{left:?}");
    assert_eq!(left[0], "notes.txt");
    assert_eq!(left[1], "steward-20200103T030000Z.db");
    assert!(left[2].starts_with("steward-20") && left[2] != left[1], "{left:?}");
    // The new backup is a real copy (read from a copy of it, to leave the directory as it is).
    let check = dir.path().join("check.db");
    std::fs::copy(backups.join(&left[2]), &check).unwrap();
    let o = steward(&check, &["task", "list"]);
    assert!(out(&o).contains("Alpha"), "{}", out(&o));

    let o = steward(&db, &["backup", backups.to_str().unwrap(), "--keep", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("--keep 0"), "{}", err(&o));
    assert_eq!(names_in(&backups).len(), 3, "nothing removed, nothing written");

    // --keep creates the directory; --json says what happened.
    let fresh = dir.path().join("fresh");
    let o = steward(&db, &["--json", "backup", fresh.to_str().unwrap(), "--keep", "1"]);
    assert!(o.status.success(), "{}", err(&o));
    let v: serde_json::Value = serde_json::from_str(&out(&o)).unwrap();
    assert!(v["backup"].as_str().unwrap().contains("/fresh/steward-"), "{v}");
    assert_eq!(v["removed"], serde_json::json!([]));
}

#[test]
fn restore_replaces_the_database_and_keeps_the_old_one_aside() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("steward.db");
    assert!(steward(&db, &["task", "add", "Alpha"]).status.success());
    let backup = dir.path().join("b.db");
    assert!(steward(&db, &["backup", backup.to_str().unwrap()]).status.success());
    assert!(steward(&db, &["task", "add", "Beta"]).status.success());

    // Not a database, and a SQLite database that is not Steward's: refused, nothing changes.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 8192]).unwrap();
    let o = steward(&db, &["restore", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("is not a Steward database"), "{}", err(&o));
    let other = dir.path().join("other.db");
    {
        use diesel::{Connection, RunQueryDsl};
        let mut c = diesel::SqliteConnection::establish(other.to_str().unwrap()).unwrap();
        diesel::sql_query("CREATE TABLE t (x INTEGER)").execute(&mut c).unwrap();
    }
    let o = steward(&db, &["restore", other.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no migrations table"), "{}", err(&o));
    assert!(out(&steward(&db, &["task", "list"])).contains("Beta"));
    assert!(!names_in(dir.path()).iter().any(|n| n.contains("before-restore") || n.contains("restore-tmp")));

    let o = steward(&db, &["restore", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).contains("kept as"), "{}", out(&o));
    let list = out(&steward(&db, &["task", "list"]));
    assert!(list.contains("Alpha") && !list.contains("Beta"), "{list}");
    let aside: Vec<_> =
        names_in(dir.path()).into_iter().filter(|n| n.starts_with("steward.db.before-restore-")).collect();
    let main_file =
        aside.iter().find(|n| !n.ends_with("-wal") && !n.ends_with("-shm")).expect("the old database");
    let old = out(&steward(&dir.path().join(main_file), &["task", "list"]));
    assert!(old.contains("Beta"), "the old database keeps what it had: {old}");
}

#[test]
fn restore_refuses_while_a_server_runs_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("steward.db");
    assert!(steward(&db, &["task", "add", "Alpha"]).status.success());
    let backup = dir.path().join("b.db");
    assert!(steward(&db, &["backup", backup.to_str().unwrap()]).status.success());
    assert!(steward(&db, &["task", "add", "Beta"]).status.success());

    let mut child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("STEWARD_TIMEZONE", "Europe/Berlin")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("Steward is serving") {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the server exited");
    }
    // Wait until its scheduler holds the lock (it takes it just after starting).
    let lock = dir.path().join("steward.db.scheduler-lock");
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(30), "the server never took the scheduler lock");
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&lock)
            && let Err(std::fs::TryLockError::WouldBlock) = f.try_lock()
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let o = steward(&db, &["restore", backup.to_str().unwrap()]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("a Steward server is running on"), "{}", err(&o));
    assert!(out(&steward(&db, &["task", "list"])).contains("Beta"), "the database is untouched");
    assert!(!names_in(dir.path()).iter().any(|n| n.contains("before-restore")));
    // Once it has stopped, the same restore goes through.
    let o = steward(&db, &["restore", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
}
