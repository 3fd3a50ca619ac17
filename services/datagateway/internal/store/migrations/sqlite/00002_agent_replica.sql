-- +goose Up
-- See the PostgreSQL migration of the same number.
ALTER TABLE agents ADD COLUMN replica_addr TEXT;
