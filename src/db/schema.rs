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
        deactivated_by -> Nullable<Text>,
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
        phone -> Nullable<Text>,
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
        client_id -> Nullable<Text>,
        scope -> Nullable<Text>,
        method -> Nullable<Text>,
        auth_time -> Nullable<Timestamp>,
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

diesel::table! {
    oidc_clients (client_id) {
        client_id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        id_token_alg -> Text,
        created_at -> Timestamp,
        backchannel_logout_uri -> Nullable<Text>,
    }
}

diesel::table! {
    logout_outbox (id) {
        id -> Integer,
        client_id -> Text,
        sub -> Text,
        sid -> Text,
        created_at -> Timestamp,
        next_attempt_at -> Timestamp,
        attempts -> Integer,
        delivered_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::joinable!(logout_outbox -> oidc_clients (client_id));

diesel::table! {
    oidc_grants (userid, client_id) {
        userid -> Integer,
        client_id -> Text,
        scope -> Text,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    oidc_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        login_session_id -> Text,
        redirect_uri -> Text,
        scope -> Text,
        nonce -> Nullable<Text>,
        code_challenge -> Nullable<Text>,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        issued_session_id -> Nullable<Text>,
    }
}

diesel::table! {
    used_states (state_hash) {
        state_hash -> Text,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(oidc_grants -> susers (userid));
diesel::joinable!(oidc_grants -> oidc_clients (client_id));
diesel::joinable!(oidc_codes -> oidc_clients (client_id));
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

diesel::table! {
    directory_departments (dept_id) {
        dept_id -> BigInt,
        parent_id -> Nullable<BigInt>,
        name -> Text,
        sort_order -> Integer,
        synced_at -> Timestamp,
    }
}

diesel::table! {
    directory_members (userid) {
        userid -> Text,
        unionid -> Nullable<Text>,
        name -> Text,
        dept_ids -> Text,
        active -> Bool,
        left_at -> Nullable<Timestamp>,
        synced_at -> Timestamp,
    }
}

diesel::table! {
    directory_syncs (id) {
        id -> Integer,
        started_at -> Timestamp,
        finished_at -> Timestamp,
        departments -> Integer,
        members -> Integer,
        joined -> Integer,
        departed -> Integer,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    directory_events (event_key) {
        event_key -> Text,
        received_at -> Timestamp,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        holder -> Text,
        expires_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    logout_outbox,
    directory_members,
    susers,
    sflogin,
    login_sessions,
    refresh_tokens,
    audit_log,
    handoff_codes,
    oidc_clients,
    oidc_grants,
    oidc_codes
);
