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
        authenticated_at -> Timestamp,
        remembered -> Bool,
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
        scopes -> Text,
        expires_at -> Nullable<BigInt>,
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
        created_in -> Nullable<Integer>,
    }
}

diesel::table! {
    agents (id) {
        id -> Integer,
        name -> Text,
        kind -> Text,
        config -> Text,
        concurrency -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
        open_to_chat -> Bool,
        open_to_mcp -> Bool,
        open_to_tokens -> Bool,
    }
}

diesel::table! {
    schedules (id) {
        id -> Integer,
        name -> Text,
        prompt -> Text,
        agent -> Text,
        kind -> Text,
        spec -> Text,
        tz -> Text,
        priority -> Integer,
        active -> Bool,
        misfire -> Text,
        retry_attempts -> Integer,
        retry_base_secs -> Integer,
        until_at -> Nullable<BigInt>,
        max_count -> Nullable<Integer>,
        fired_count -> Integer,
        anchor_at -> BigInt,
        next_fire_at -> Nullable<BigInt>,
        failure_streak -> Integer,
        note -> Nullable<Text>,
        created_by -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
        conversation_id -> Nullable<Integer>,
        created_in -> Nullable<Integer>,
        source -> Nullable<Text>,
        answer_to -> Text,
    }
}

diesel::table! {
    runs (id) {
        id -> Integer,
        schedule_id -> Nullable<Integer>,
        idempotency_key -> Text,
        agent -> Text,
        prompt -> Text,
        priority -> Integer,
        scheduled_for -> BigInt,
        state -> Text,
        trigger -> Text,
        attempt -> Integer,
        max_attempts -> Integer,
        retry_base_secs -> Integer,
        not_before -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<BigInt>,
        started_at -> Nullable<BigInt>,
        finished_at -> Nullable<BigInt>,
        output -> Nullable<Text>,
        error -> Nullable<Text>,
        created_at -> BigInt,
    }
}

diesel::table! {
    run_attempts (run_id, attempt) {
        run_id -> Integer,
        attempt -> Integer,
        started_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    notifications (id) {
        id -> Integer,
        title -> Text,
        body -> Text,
        level -> Text,
        run_id -> Nullable<Integer>,
        schedule_id -> Nullable<Integer>,
        created_at -> BigInt,
        read_at -> Nullable<BigInt>,
        subject -> Nullable<Text>,
        urgent -> Bool,
    }
}

diesel::table! {
    conversations (id) {
        id -> Integer,
        title -> Text,
        agent -> Text,
        schedule_id -> Nullable<Integer>,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    messages (id) {
        id -> Integer,
        conversation_id -> Integer,
        role -> Text,
        content -> Text,
        tool_calls -> Nullable<Text>,
        tool_call_id -> Nullable<Text>,
        tool_name -> Nullable<Text>,
        state -> Text,
        error -> Nullable<Text>,
        run_id -> Nullable<Integer>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    activity (id) {
        id -> Integer,
        created_at -> BigInt,
        actor -> Text,
        conversation_id -> Nullable<Integer>,
        token_id -> Nullable<Integer>,
        kind -> Text,
        target_id -> Integer,
        action -> Text,
        summary -> Text,
        before -> Nullable<Text>,
        after -> Nullable<Text>,
        undone_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    calendars (id) {
        id -> Integer,
        name -> Text,
        colour -> Text,
        visible -> Bool,
        source_url -> Nullable<Text>,
        refresh_minutes -> Nullable<Integer>,
        etag -> Nullable<Text>,
        last_modified -> Nullable<Text>,
        last_refresh_at -> Nullable<BigInt>,
        last_error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
        reminders -> Text,
    }
}

diesel::table! {
    confirmations (id) {
        id -> Integer,
        tool -> Text,
        arguments -> Text,
        summary -> Text,
        reason -> Text,
        token_id -> Nullable<Integer>,
        state -> Text,
        result -> Nullable<Text>,
        created_at -> BigInt,
        decided_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    events (id) {
        id -> Integer,
        calendar_id -> Integer,
        uid -> Text,
        recurrence_id -> Nullable<Text>,
        sequence -> Integer,
        title -> Text,
        all_day -> Bool,
        zone -> Nullable<Text>,
        start_local -> Text,
        end_local -> Text,
        start_at -> BigInt,
        end_at -> BigInt,
        last_end_at -> Nullable<BigInt>,
        rrule -> Nullable<Text>,
        exdates -> Text,
        rdates -> Text,
        location -> Nullable<Text>,
        notes -> Nullable<Text>,
        categories -> Text,
        alarms -> Text,
        status -> Nullable<Text>,
        extra -> Nullable<Text>,
        created_by -> Text,
        created_in -> Nullable<Integer>,
        created_at -> BigInt,
        updated_at -> BigInt,
        deleted_at -> Nullable<BigInt>,
        reminders -> Nullable<Text>,
    }
}

diesel::table! {
    calendar_feeds (id) {
        id -> Integer,
        name -> Text,
        token_hash -> Text,
        hint -> Text,
        include_tasks -> Bool,
        include_schedules -> Bool,
        schedule_days -> Integer,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(runs -> schedules (schedule_id));
diesel::joinable!(messages -> conversations (conversation_id));
diesel::joinable!(run_attempts -> runs (run_id));
diesel::joinable!(events -> calendars (calendar_id));

diesel::allow_tables_to_appear_in_same_query!(
    settings,
    sessions,
    api_tokens,
    tasks,
    agents,
    schedules,
    runs,
    run_attempts,
    notifications,
    conversations,
    messages,
    activity,
    confirmations,
    calendars,
    events,
    calendar_feeds,
    task_contexts,
    task_projects
);

// --- channels (notification channels and their deliveries) ---
diesel::table! {
    channels (id) {
        id -> Integer,
        name -> Text,
        kind -> Text,
        config -> Text,
        secret -> Nullable<Text>,
        receives -> Text,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    deliveries (id) {
        id -> Integer,
        notification_id -> Integer,
        channel -> Text,
        state -> Text,
        attempts -> Integer,
        max_attempts -> Integer,
        not_before -> BigInt,
        error -> Nullable<Text>,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::joinable!(deliveries -> notifications (notification_id));
diesel::allow_tables_to_appear_in_same_query!(channels, deliveries, notifications);
// --- end channels ---

// --- projects and briefings ---
diesel::table! {
    projects (name) {
        name -> Text,
        outcome -> Nullable<Text>,
        target_date -> Nullable<Date>,
        archived_at -> Nullable<BigInt>,
        updated_at -> BigInt,
    }
}

diesel::table! {
    briefings (name) {
        name -> Text,
        schedule_id -> Nullable<Integer>,
        agent -> Nullable<Text>,
        channels -> Text,
        sections -> Text,
        instructions -> Text,
        conversation_id -> Nullable<Integer>,
        updated_at -> BigInt,
    }
}

diesel::joinable!(briefings -> schedules (schedule_id));
diesel::allow_tables_to_appear_in_same_query!(briefings, schedules);
// --- end projects and briefings ---
// --- action links ---
diesel::table! {
    action_links_used (id) {
        id -> Text,
        notification_id -> Integer,
        action -> Text,
        used_at -> BigInt,
    }
}
// --- end action links ---
// --- login history ---
diesel::table! {
    login_history (id) {
        id -> Integer,
        at -> Timestamp,
        ip -> Text,
        user_agent -> Text,
        device_id -> Nullable<Text>,
        outcome -> Text,
    }
}
// --- end login history ---
// --- task membership ---
diesel::table! {
    task_contexts (context, task_id) {
        context -> Text,
        task_id -> Integer,
    }
}

diesel::table! {
    task_projects (project, task_id) {
        project -> Text,
        task_id -> Integer,
    }
}
// --- end task membership ---
// --- two factor ---
diesel::table! {
    two_factor (id) {
        id -> Integer,
        secret -> Text,
        enabled_at -> Nullable<BigInt>,
        last_step -> BigInt,
        created_at -> BigInt,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Integer,
        code_hash -> Text,
        used_at -> Nullable<BigInt>,
        created_at -> BigInt,
    }
}

diesel::table! {
    login_challenges (id) {
        id -> Integer,
        token_hash -> Text,
        expires_at -> BigInt,
        failures -> Integer,
    }
}

diesel::allow_tables_to_appear_in_same_query!(two_factor, recovery_codes, login_challenges);
// --- end two factor ---
