// Shared by both backends: only SQL types that Diesel's MultiConnection supports on both.

diesel::table! {
    susers (id) {
        id -> Integer,
        username -> Text,
        name -> Text,
        phone -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        role -> Text,
        is_active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sflogin (id) {
        id -> Integer,
        userid -> Integer,
        types -> Integer,
        uid -> Text,
        unionid -> Nullable<Text>,
        token -> Nullable<Text>,
        nick -> Text,
        avatar_url -> Nullable<Text>,
        created_at -> Timestamp,
        last_login_at -> Timestamp,
    }
}

diesel::table! {
    login_sessions (id) {
        id -> Text,
        userid -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        last_used_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        revoke_reason -> Nullable<Text>,
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        session_id -> Text,
        token_hash -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        replaced_by -> Nullable<Text>,
    }
}

diesel::table! {
    handoff_codes (code_hash) {
        code_hash -> Text,
        session_id -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(handoff_codes -> login_sessions (session_id));
diesel::joinable!(sflogin -> susers (userid));
diesel::joinable!(login_sessions -> susers (userid));
diesel::joinable!(refresh_tokens -> login_sessions (session_id));

diesel::table! {
    audit_log (id) {
        id -> Integer,
        actor_id -> Nullable<Integer>,
        actor_username -> Text,
        action -> Text,
        target_user_id -> Nullable<Integer>,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    susers,
    sflogin,
    login_sessions,
    refresh_tokens,
    audit_log,
    handoff_codes
);
