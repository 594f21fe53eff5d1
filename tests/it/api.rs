//! `/api/v1/tasks`: shapes, paging, edits, completion, and precise errors.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn create_by_quick_add_or_fields_and_read_back() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);

    let (status, task) = api
        .post("/tasks", json!({"text": "(B) Renew passport +admin @town due:2030-03-01 rec:1y owner:me"}))
        .await;
    assert_eq!(status, 201);
    for key in [
        "id",
        "title",
        "priority",
        "projects",
        "contexts",
        "due",
        "threshold",
        "recurrence",
        "status",
        "created",
        "completed",
        "extra",
        "todotxt",
    ] {
        assert!(task.get(key).is_some(), "missing {key}: {task}");
    }
    assert_eq!(task["title"], "Renew passport");
    assert_eq!(task["priority"], "B");
    assert_eq!(task["due"], "2030-03-01");
    assert_eq!(task["recurrence"], "1y");
    assert_eq!(task["status"], "open");
    assert_eq!(task["completed"], serde_json::Value::Null);
    assert_eq!(task["extra"], json!({"owner": "me"}));
    assert_eq!(task["created_by"], "api");
    assert!(task["todotxt"].as_str().unwrap().starts_with("(B) 20"), "{task}");

    let (status, task) = api
        .post(
            "/tasks",
            json!({"title": "Book flights", "priority": "a", "projects": ["trip"], "contexts": ["@laptop"], "due": "2030-05-01T18:30:00+02:00", "extra": {"ref": "x1"}}),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(task["priority"], "A");
    assert_eq!(task["contexts"], json!(["laptop"]));
    assert_eq!(task["due"], "2030-05-01T18:30:00+02:00");
    let id = task["id"].as_i64().unwrap();
    let (status, again) = api.get(&format!("/tasks/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(again, task);
}

#[tokio::test]
async fn bad_input_gets_a_precise_error() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    let cases = [
        (json!({"text": ""}), "task"),
        (json!({"text": "Pay due:2027-02-30"}), "due:2027-02-30"),
        (json!({"text": "x".repeat(4001)}), "4000"),
        (json!({"text": 5}), "text"),
        (json!({"title": "T", "priority": "AA"}), "priority"),
        (json!({"title": "T", "due": "someday maybe"}), "due"),
        (json!({"title": "T", "recurrence": "every blue moon"}), "recurrence"),
        (json!({"title": "T", "projects": ["two words"]}), "projects"),
        (json!({"title": "T", "colour": "red"}), "colour"),
        (json!({"priority": "A"}), "title"),
        (json!({"title": "T", "extra": {"due": "x"}}), "extra"),
    ];
    for (body, mention) in cases {
        let (status, err) = api.post("/tasks", body.clone()).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"]["code"], "invalid");
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.to_lowercase().contains(mention), "{body}: {message}");
    }
    let res = api
        .client
        .post(format!("{}/tasks", api.base))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, err) = read(res).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "bad_request");
    let (status, err) = api.get("/tasks?limit=many").await;
    assert_eq!(status, 422, "{err}");
    let (status, err) = api.get("/tasks/999").await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "not_found");
    let (status, _) = api.get("/nothing/here").await;
    assert_eq!(status, 404);
    // Nothing was half-created.
    let (_, list) = api.get("/tasks?status=all").await;
    assert_eq!(list["tasks"], json!([]));
}

#[tokio::test]
async fn list_filters_and_cursor_paging() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    for i in 0..7 {
        api.post("/tasks", json!({"text": format!("Item {i} +p{}", i % 2)})).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let path = match cursor {
            Some(c) => format!("/tasks?limit=3&cursor={c}"),
            None => "/tasks?limit=3".to_string(),
        };
        let (status, page) = api.get(&path).await;
        assert_eq!(status, 200);
        seen.extend(
            page["tasks"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("Item {i}")).collect::<Vec<_>>());
    let (_, page) = api.get("/tasks?project=p1").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 3);
    let (_, page) = api.get("/tasks?q=Item+4").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn patch_complete_and_delete() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    let (_, task) = api.post("/tasks", json!({"text": "Pay rent every month on the 1st +home p2"})).await;
    let id = task["id"].as_i64().unwrap();

    let (status, patched) = api
        .patch(
            &format!("/tasks/{id}"),
            json!({"title": "Pay the rent", "priority": null, "contexts": ["bank"]}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["title"], "Pay the rent");
    assert_eq!(patched["priority"], serde_json::Value::Null);
    assert_eq!(patched["projects"], json!(["home"]), "untouched fields stay");
    assert_eq!(patched["contexts"], json!(["bank"]));

    let (status, done) = api.post(&format!("/tasks/{id}/complete"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(done["status"], "done");
    assert!(done["completed"].is_string());
    assert!(done["todotxt"].as_str().unwrap().starts_with("x 20"));
    let next = &done["next"];
    assert_eq!(next["status"], "open");
    assert_eq!(next["title"], "Pay the rent");
    assert!(next["due"].as_str().unwrap().ends_with("-01"), "{next}");

    let (status, reopened) = api.patch(&format!("/tasks/{id}"), json!({"status": "open"})).await;
    assert_eq!(status, 200);
    assert_eq!(reopened["status"], "open");

    assert_eq!(api.delete(&format!("/tasks/{id}")).await, 204);
    assert_eq!(api.get(&format!("/tasks/{id}")).await.0, 404);
    assert_eq!(api.delete(&format!("/tasks/{id}")).await, 404);
}

/// Every API error is a sentence a person can act on, with the right status, naming the field.
#[tokio::test]
async fn api_errors_are_sentences_with_the_right_status_and_field() {
    let app = logged_in_app().await;
    let api = app.api(&app.api_token().await);
    let url = |path: &str| format!("{}{path}", api.base);
    let parser_words = ["deserialize", "Json", "Content type error", "EOF", "invalid digit", "invalid type"];
    let check = |what: &str, err: &serde_json::Value| {
        let message = err["error"]["message"].as_str().unwrap_or_else(|| panic!("{what}: {err}"));
        assert!(message.ends_with('.'), "{what}: {message}");
        assert!(message.starts_with(char::is_uppercase), "{what}: {message}");
        for words in parser_words {
            assert!(!message.contains(words), "{what}: {message}");
        }
    };

    // Malformed JSON: 400.
    let res =
        api.client.post(url("/tasks")).header("Content-Type", "application/json").body("{\"text\": ").send();
    let (status, err) = read(res.await.unwrap()).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("bad_request")), "{err}");
    assert_eq!(err["error"]["message"], "The body is not valid JSON: it ends too early (line 1, column 9).");
    check("bad json", &err);

    // No Content-Type: 415.
    let res = api.client.post(url("/tasks")).body("{\"text\": \"Buy milk\"}").send().await.unwrap();
    let (status, err) = read(res).await;
    assert_eq!((status, err["error"]["code"].as_str()), (415, Some("unsupported_media_type")), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("Content-Type: application/json"), "{err}");
    check("no content type", &err);

    // A bad query parameter: 422, named.
    let (status, err) = api.get("/tasks?limit=abc").await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "limit");
    assert_eq!(err["error"]["message"], "Limit: “abc” is not a whole number.");
    check("limit=abc", &err);

    // A field of the wrong type in a body: 422, named.
    let (status, err) = api
        .post(
            "/schedules",
            json!({"agent": "notify", "prompt": "p", "cron": "0 9 * * *", "retry_attempts": "three"}),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "retry_attempts", "{err}");
    check("retry_attempts", &err);
    let (status, err) = api.post("/tasks", json!({"title": "T", "priority": 5})).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "priority", "{err}");
    check("priority", &err);
    // A field the service refuses keeps its name in `field`, and the message is a sentence.
    let (status, err) = api.post("/tasks", json!({"text": ""})).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["field"], "task", "{err}");
    check("empty task", &err);

    // A wrong method on an existing path: 405 with Allow.
    let res = api.client.put(url("/tasks")).json(&json!({})).send().await.unwrap();
    assert_eq!(res.headers().get("Allow").map(|v| v.to_str().unwrap().to_string()), Some("GET, POST".into()));
    let (status, err) = read(res).await;
    assert_eq!((status, err["error"]["code"].as_str()), (405, Some("method_not_allowed")), "{err}");
    check("PUT /tasks", &err);
    let res = api.client.post(url("/tasks/1")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers().get("Allow").unwrap(), "GET, PATCH, DELETE");

    // An id that cannot be one: 404 in words; a path that does not exist: 404.
    let (status, err) = api.get("/tasks/abc").await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")), "{err}");
    check("/tasks/abc", &err);
    let (status, err) = api.get("/nothing/here").await;
    assert_eq!(status, 404);
    check("/nothing/here", &err);
}
