-- Accounts, users, roles, tokens, assets, sensors and data sources (spec: model.md §1-§4).

CREATE TABLE account_roles (
    id          serial PRIMARY KEY,
    name        varchar(80) NOT NULL UNIQUE,
    description text
);

CREATE TABLE accounts (
    id                     serial PRIMARY KEY,
    name                   varchar(100) NOT NULL UNIQUE,
    consultancy_account_id integer REFERENCES accounts (id) ON DELETE SET NULL
);

CREATE TABLE account_role_links (
    account_id integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role_id    integer NOT NULL REFERENCES account_roles (id) ON DELETE CASCADE,
    PRIMARY KEY (account_id, role_id)
);

CREATE TABLE roles (
    id          serial PRIMARY KEY,
    name        varchar(80) NOT NULL UNIQUE,
    description text
);

CREATE TABLE users (
    id            serial PRIMARY KEY,
    email         varchar(255) NOT NULL UNIQUE,
    username      varchar(255) NOT NULL UNIQUE,
    password_hash text NOT NULL,
    active        boolean NOT NULL DEFAULT true,
    account_id    integer NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    timezone      varchar(255) NOT NULL DEFAULT 'Europe/Amsterdam',
    fs_uniquifier varchar(64) NOT NULL UNIQUE,
    last_login_at timestamptz,
    last_seen_at  timestamptz,
    login_count   integer NOT NULL DEFAULT 0
);
CREATE INDEX users_account_idx ON users (account_id);

CREATE TABLE user_roles (
    user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id integer NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);

-- Tokens are stored as SHA-256 of the opaque token: a leaked table grants nothing.
CREATE TABLE auth_tokens (
    token_hash  bytea PRIMARY KEY,
    user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX auth_tokens_user_idx ON auth_tokens (user_id);

CREATE TABLE generic_asset_types (
    id          serial PRIMARY KEY,
    name        varchar(80) NOT NULL UNIQUE,
    description text
);

CREATE TABLE generic_assets (
    id                    serial PRIMARY KEY,
    name                  varchar(80) NOT NULL,
    generic_asset_type_id integer NOT NULL REFERENCES generic_asset_types (id),
    account_id            integer REFERENCES accounts (id) ON DELETE CASCADE,  -- NULL: public asset
    parent_asset_id       integer REFERENCES generic_assets (id) ON DELETE CASCADE,
    latitude              double precision,
    longitude             double precision,
    attributes            jsonb NOT NULL DEFAULT '{}',
    flex_context          jsonb NOT NULL DEFAULT '{}',
    sensors_to_show       jsonb NOT NULL DEFAULT '[]',
    CONSTRAINT generic_assets_name_parent_key UNIQUE (name, parent_asset_id),
    CONSTRAINT generic_assets_not_own_parent CHECK (parent_asset_id IS DISTINCT FROM id)
);
CREATE INDEX generic_assets_account_idx ON generic_assets (account_id);
CREATE INDEX generic_assets_parent_idx ON generic_assets (parent_asset_id);

CREATE TABLE sensors (
    id                    serial PRIMARY KEY,
    name                  varchar(120) NOT NULL,
    unit                  varchar(80) NOT NULL,
    timezone              varchar(80) NOT NULL DEFAULT 'UTC',
    event_resolution      interval NOT NULL DEFAULT '0',
    knowledge_horizon_fnc varchar(80) NOT NULL DEFAULT 'ex_post',
    knowledge_horizon_par jsonb NOT NULL DEFAULT '{"ex_post_horizon": "PT0H"}',
    attributes            jsonb NOT NULL DEFAULT '{}',
    generic_asset_id      integer NOT NULL REFERENCES generic_assets (id) ON DELETE CASCADE,
    CONSTRAINT sensors_name_asset_key UNIQUE (name, generic_asset_id),
    CONSTRAINT sensors_resolution_not_negative CHECK (event_resolution >= interval '0')
);
CREATE INDEX sensors_asset_idx ON sensors (generic_asset_id);

CREATE TABLE data_sources (
    id              serial PRIMARY KEY,
    name            varchar(120) NOT NULL,
    type            varchar(80) NOT NULL,
    user_id         integer UNIQUE REFERENCES users (id) ON DELETE SET NULL,
    model           varchar(80),
    version         varchar(17),
    attributes      jsonb NOT NULL DEFAULT '{}',
    attributes_hash bytea,
    CONSTRAINT data_sources_identity_key UNIQUE NULLS NOT DISTINCT (name, user_id, model, version, attributes_hash)
);
