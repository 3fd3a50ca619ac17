-- +goose Up
-- The address (host:port) of the datagateway replica holding a connected agent's stream,
-- as that replica advertises it to the others, which forward calls for the agent's pool
-- there. NULL while the agent is not connected, or when its replica takes no forwarded
-- calls.
ALTER TABLE agents ADD COLUMN replica_addr text;
