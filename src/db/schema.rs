// @generated shape of migrations/ (kept by hand in the form `diesel print-schema` writes).

diesel::table! {
    settings (key) {
        key -> Text,
        value -> Text,
    }
}

diesel::table! {
    sessions (id) {
        id -> Integer,
        token_hash -> Text,
        csrf_token -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
        user_agent -> Text,
        ip -> Text,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Integer,
        name -> Text,
        token_hash -> Text,
        hint -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tasks (id) {
        id -> Integer,
        body -> Text,
        priority -> Nullable<Text>,
        done -> Bool,
        created_on -> Nullable<Date>,
        completed_on -> Nullable<Date>,
        title -> Text,
        projects -> Text,
        contexts -> Text,
        due_date -> Nullable<Date>,
        due_at -> Nullable<Timestamp>,
        threshold -> Nullable<Date>,
        recurrence -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        completed_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(settings, sessions, api_tokens, tasks);
