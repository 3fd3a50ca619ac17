package store

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// TenantName returns `tenants/{id}`.
func TenantName(id string) string { return "tenants/" + id }

// ConnectionName returns `tenants/{tenant}/connections/{id}`.
func ConnectionName(tenant, id string) string { return "tenants/" + tenant + "/connections/" + id }

// AgentName returns `tenants/{tenant}/agents/{id}`.
func AgentName(tenant, id string) string { return "tenants/" + tenant + "/agents/" + id }

// ReplicationName returns `tenants/{tenant}/replications/{id}`.
func ReplicationName(tenant, id string) string { return "tenants/" + tenant + "/replications/" + id }

// maxSlotName is PostgreSQL's longest identifier (NAMEDATALEN - 1).
const maxSlotName = 63

// SlotName is the replication slot (and publication) name of a replication at its
// source: `oriel_<tenant>_<id>` with every character outside [a-z0-9_] made `_`. A name
// too long for PostgreSQL keeps its start and ends with a hash of the whole, so two long
// names sharing a prefix still differ.
func SlotName(tenant, id string) string {
	name := sanitizeSlot("oriel_" + tenant + "_" + id)
	if len(name) <= maxSlotName {
		return name
	}
	sum := sha256.Sum256([]byte(tenant + "/" + id))
	hash := hex.EncodeToString(sum[:])[:12]
	return name[:maxSlotName-len(hash)-1] + "_" + hash
}

func sanitizeSlot(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return '_'
	}, s)
}

// AgentOf splits `tenants/{tenant}/agents/{id}`; ok is false for anything else.
func AgentOf(name string) (tenant, id string, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "tenants" || parts[2] != "agents" || parts[1] == "" || parts[3] == "" {
		return "", "", false
	}
	return parts[1], parts[3], true
}
