package storetest

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"sync"
	"testing"
	"time"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
	"github.com/oriel-dev/oriel/platform/testkit"
	"github.com/oriel-dev/oriel/services/identity/internal/store"
)

var accountBehaviours = []behaviour{
	{"platform and tenant accounts read back", accountsRoundTrip},
	{"platform and tenant accounts are separate namespaces", accountNamespacesSeparate},
	{"a taken account id is already taken", accountIDTaken},
	{"an account of another tenant is not found, nor are its keys", accountTenantIsolation},
	{"limit and after id page through every account exactly once", accountsPageByID},
}

var keyBehaviours = []behaviour{
	{"a created key reads back and authenticates with its account's scopes", keyRoundTrips},
	{"a key stops authenticating when revoked or expired", keyStopsWhenRevokedOrExpired},
	{"revoking a key again keeps the first revoke time", revokeKeepsFirstTime},
	{"deleting an account stops its keys for good", deletingAccountStopsKeys},
	{"a key for a missing account is not found, a taken key id or hash already taken", keyCreateConflicts},
	{"touching keys records later use and never moves it back", touchingKeysNeverMovesBack},
	{"limit and after id page through every key exactly once", keysPageByID},
}

var bootstrapBehaviours = []behaviour{
	// These assume a store of their own: there is one bootstrap account per store.
	{"the bootstrap key is made once, with every scope", bootstrapKeyMadeOnce},
	{"a new bootstrap key replaces the old one", bootstrapKeyReplaced},
	{"the configured bootstrap key is the only one left working", bootstrapKeyIsTheOnlyOne},
	{"concurrent bootstrap ensures agree", bootstrapConcurrent},
}

// newAccount returns an account of tenant ("" for the platform).
func newAccount(tenant, id string, scopes ...string) *identityv1.ServiceAccount {
	if len(scopes) == 0 {
		scopes = []string{"embed.mint", "content.read"}
	}
	return &identityv1.ServiceAccount{
		Name:        store.ServiceAccountName(tenant, id),
		DisplayName: "Backend of " + id,
		Scopes:      scopes,
		CreateTime:  ts(epoch),
	}
}

// mustCreateAccount creates an account and returns it as it should read back.
func mustCreateAccount(t *testing.T, s store.Store, tenant, id string, scopes ...string) *identityv1.ServiceAccount {
	t.Helper()
	a := newAccount(tenant, id, scopes...)
	testkit.RequireNoError(t, "CreateServiceAccount "+a.GetName(), s.CreateServiceAccount(t.Context(), tenant, id, a))
	return a
}

// newKey returns a key of the account with a fresh secret's hash.
func newKey(tenant, account, id string) *store.APIKey {
	secret := "oriel_sk_" + testkit.UniqueID("secret")
	hash := sha256.Sum256([]byte(secret))
	return &store.APIKey{
		Tenant:         tenant,
		ServiceAccount: account,
		ID:             id,
		DisplayName:    "key " + id,
		Prefix:         secret[:13],
		Hash:           hash[:],
		CreateTime:     epoch,
	}
}

// mustCreateKey creates k.
func mustCreateKey(t *testing.T, s store.Store, k *store.APIKey) *store.APIKey {
	t.Helper()
	testkit.RequireNoError(t, "CreateAPIKey "+k.ID, s.CreateAPIKey(t.Context(), k))
	return k
}

// at returns a pointer to t, for the optional times of a key.
func at(t time.Time) *time.Time { return &t }

// requireKey fails the test unless got equals want field for field.
func requireKey(t *testing.T, what string, want, got *store.APIKey) {
	t.Helper()
	sameTime := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	if got == nil || got.Tenant != want.Tenant || got.ServiceAccount != want.ServiceAccount || got.ID != want.ID ||
		got.DisplayName != want.DisplayName || got.Prefix != want.Prefix || !bytes.Equal(got.Hash, want.Hash) ||
		!got.CreateTime.Equal(want.CreateTime) || !sameTime(got.ExpireTime, want.ExpireTime) ||
		!sameTime(got.LastUseTime, want.LastUseTime) || !sameTime(got.RevokeTime, want.RevokeTime) {
		t.Fatalf("%s:\ngot  %+v\nwant %+v", what, got, want)
	}
}

// requireOwner fails the test unless hash authenticates at now as key with scopes.
func requireOwner(t *testing.T, s store.Store, what string, hash []byte, now time.Time, key *store.APIKey, scopes []string) {
	t.Helper()
	owner, err := s.KeyOwner(t.Context(), hash, now)
	testkit.RequireNoError(t, what, err)
	requireKey(t, what+": key", key, owner.Key)
	testkit.RequireStrings(t, what+": scopes", slices.Sorted(slices.Values(scopes)), slices.Sorted(slices.Values(owner.Scopes)))
}

// requireNoOwner fails the test unless hash authenticates nobody at now.
func requireNoOwner(t *testing.T, s store.Store, what string, hash []byte, now time.Time) {
	t.Helper()
	_, err := s.KeyOwner(t.Context(), hash, now)
	testkit.RequireErrorIs(t, what, err, store.ErrNotFound)
}

func accountsRoundTrip(t *testing.T, s store.Store) {
	tenant := newTenant()
	platformID, tenantID := testkit.UniqueID("platform"), testkit.UniqueID("backend")
	platform := mustCreateAccount(t, s, "", platformID, "tenants.read", "tenants.write")
	own := mustCreateAccount(t, s, tenant, tenantID, "identity.admin")

	got, err := s.GetServiceAccount(t.Context(), "", platformID)
	testkit.RequireNoError(t, "GetServiceAccount of a platform account", err)
	testkit.RequireProto(t, "the platform account", platform, got)
	testkit.RequireEqual(t, "the platform account's name", "serviceAccounts/"+platformID, got.GetName())
	got, err = s.GetServiceAccount(t.Context(), tenant, tenantID)
	testkit.RequireNoError(t, "GetServiceAccount of a tenant account", err)
	testkit.RequireProto(t, "the tenant account", own, got)
	testkit.RequireEqual(t, "the tenant account's name", "tenants/"+tenant+"/serviceAccounts/"+tenantID, got.GetName())

	list, err := s.ListServiceAccounts(t.Context(), tenant, everything)
	testkit.RequireNoError(t, "ListServiceAccounts", err)
	testkit.RequireEqual(t, "accounts listed", 1, len(list))
	testkit.RequireProto(t, "ListServiceAccounts[0]", own, list[0])
}

func accountNamespacesSeparate(t *testing.T, s store.Store) {
	tenant := newTenant()
	id := testkit.UniqueID("backend")
	platform := mustCreateAccount(t, s, "", id, "tenants.write")
	own := mustCreateAccount(t, s, tenant, id, "content.read")

	got, err := s.GetServiceAccount(t.Context(), "", id)
	testkit.RequireNoError(t, "GetServiceAccount", err)
	testkit.RequireProto(t, "the platform account", platform, got)
	got, err = s.GetServiceAccount(t.Context(), tenant, id)
	testkit.RequireNoError(t, "GetServiceAccount", err)
	testkit.RequireProto(t, "the tenant account of the same id", own, got)

	// Listing the platform's accounts shares tenant "" with other behaviours on a shared
	// store, so this looks only for the two accounts of this behaviour.
	list, err := s.ListServiceAccounts(t.Context(), "", everything)
	testkit.RequireNoError(t, "ListServiceAccounts of the platform", err)
	var platformListed int
	for _, a := range list {
		if testkit.ResourceID(a.GetName()) == id {
			platformListed++
			testkit.RequireProto(t, "the listed platform account", platform, a)
		}
	}
	testkit.RequireEqual(t, "platform accounts listed with the id", 1, platformListed)

	// Keys are per namespace too.
	pk := mustCreateKey(t, s, newKey("", id, "k1"))
	tk := mustCreateKey(t, s, newKey(tenant, id, "k1"))
	requireOwner(t, s, "the platform key", pk.Hash, epoch, pk, platform.GetScopes())
	requireOwner(t, s, "the tenant key", tk.Hash, epoch, tk, own.GetScopes())

	testkit.RequireNoError(t, "DeleteServiceAccount of the tenant account", s.DeleteServiceAccount(t.Context(), tenant, id, epoch))
	got, err = s.GetServiceAccount(t.Context(), "", id)
	testkit.RequireNoError(t, "GetServiceAccount of the platform account after its namesake was deleted", err)
	testkit.RequireProto(t, "the platform account", platform, got)
	requireOwner(t, s, "the platform key after its namesake's account was deleted", pk.Hash, epoch, pk, platform.GetScopes())
	testkit.RequireNoError(t, "DeleteServiceAccount of the platform account", s.DeleteServiceAccount(t.Context(), "", id, epoch))
	_, err = s.GetServiceAccount(t.Context(), "", id)
	testkit.RequireErrorIs(t, "GetServiceAccount after delete", err, store.ErrNotFound)
	testkit.RequireErrorIs(t, "DeleteServiceAccount of a deleted account", s.DeleteServiceAccount(t.Context(), "", id, epoch), store.ErrNotFound)
}

func accountIDTaken(t *testing.T, s store.Store) {
	tenant := newTenant()
	id := testkit.UniqueID("backend")
	want := mustCreateAccount(t, s, tenant, id)
	err := s.CreateServiceAccount(t.Context(), tenant, id, newAccount(tenant, id, "identity.admin"))
	testkit.RequireErrorIs(t, "CreateServiceAccount of a taken id", err, store.ErrAlreadyExists)
	got, err := s.GetServiceAccount(t.Context(), tenant, id)
	testkit.RequireNoError(t, "GetServiceAccount", err)
	testkit.RequireProto(t, "the account after a failed create", want, got)

	mustCreateAccount(t, s, "", id)
	err = s.CreateServiceAccount(t.Context(), "", id, newAccount("", id))
	testkit.RequireErrorIs(t, "CreateServiceAccount of a taken platform id", err, store.ErrAlreadyExists)
}

func accountTenantIsolation(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	id := testkit.UniqueID("backend")
	mustCreateAccount(t, s, tenant, id)
	k := mustCreateKey(t, s, newKey(tenant, id, "k1"))

	for _, elsewhere := range []string{other, ""} {
		_, err := s.GetServiceAccount(t.Context(), elsewhere, id)
		testkit.RequireErrorIs(t, "GetServiceAccount from elsewhere", err, store.ErrNotFound)
		testkit.RequireErrorIs(t, "DeleteServiceAccount from elsewhere",
			s.DeleteServiceAccount(t.Context(), elsewhere, id, epoch), store.ErrNotFound)
		_, err = s.ListAPIKeys(t.Context(), elsewhere, id, everything)
		testkit.RequireErrorIs(t, "ListAPIKeys from elsewhere", err, store.ErrNotFound)
		_, err = s.RevokeAPIKey(t.Context(), elsewhere, id, "k1", epoch)
		testkit.RequireErrorIs(t, "RevokeAPIKey from elsewhere", err, store.ErrNotFound)
		err = s.CreateAPIKey(t.Context(), newKey(elsewhere, id, "k2"))
		testkit.RequireErrorIs(t, "CreateAPIKey from elsewhere", err, store.ErrNotFound)
	}
	list, err := s.ListServiceAccounts(t.Context(), other, everything)
	testkit.RequireNoError(t, "ListServiceAccounts", err)
	testkit.RequireEqual(t, "accounts listed in another tenant", 0, len(list))

	requireOwner(t, s, "the key after the attempts from elsewhere", k.Hash, epoch, k, newAccount(tenant, id).GetScopes())
	keys, err := s.ListAPIKeys(t.Context(), tenant, id, everything)
	testkit.RequireNoError(t, "ListAPIKeys", err)
	testkit.RequireEqual(t, "keys after the attempts from elsewhere", 1, len(keys))
}

func accountsPageByID(t *testing.T, s store.Store) {
	tenant, other := newTenant(), newTenant()
	ids := pagingIDs("backend")
	for _, id := range ids {
		mustCreateAccount(t, s, tenant, id)
	}
	mustCreateAccount(t, s, other, ids[0]+"0")
	mustCreateAccount(t, s, "", ids[0]+"1")
	requirePaging(t, ids, func(p store.Page) ([]*identityv1.ServiceAccount, error) {
		return s.ListServiceAccounts(t.Context(), tenant, p)
	}, func(a *identityv1.ServiceAccount) string { return testkit.ResourceID(a.GetName()) })
}

func keyRoundTrips(t *testing.T, s store.Store) {
	tenant := newTenant()
	id := testkit.UniqueID("backend")
	a := mustCreateAccount(t, s, tenant, id, "embed.mint", "content.read", "identity.admin")
	k := newKey(tenant, id, "k1")
	k.ExpireTime = at(epoch.Add(90*24*time.Hour + time.Microsecond))
	mustCreateKey(t, s, k)
	plain := mustCreateKey(t, s, newKey(tenant, id, "k2"))

	keys, err := s.ListAPIKeys(t.Context(), tenant, id, everything)
	testkit.RequireNoError(t, "ListAPIKeys", err)
	testkit.RequireEqual(t, "keys listed", 2, len(keys))
	requireKey(t, "ListAPIKeys[0]", k, keys[0])
	requireKey(t, "ListAPIKeys[1]", plain, keys[1])

	requireOwner(t, s, "KeyOwner of a key with an expiry", k.Hash, epoch.Add(time.Hour), k, a.GetScopes())
	requireOwner(t, s, "KeyOwner of a key without expiry", plain.Hash, epoch.Add(1000*24*time.Hour), plain, a.GetScopes())
	unknown := sha256.Sum256([]byte("oriel_sk_unknown"))
	requireNoOwner(t, s, "KeyOwner of an unknown hash", unknown[:], epoch)
	requireNoOwner(t, s, "KeyOwner of a truncated hash", k.Hash[:16], epoch)
}

func keyStopsWhenRevokedOrExpired(t *testing.T, s store.Store) {
	tenant := newTenant()
	id := testkit.UniqueID("backend")
	a := mustCreateAccount(t, s, tenant, id)
	expiring := newKey(tenant, id, "expiring")
	expiring.ExpireTime = at(epoch.Add(time.Hour))
	mustCreateKey(t, s, expiring)
	revoked := mustCreateKey(t, s, newKey(tenant, id, "revoked"))

	requireOwner(t, s, "KeyOwner a microsecond before expiry", expiring.Hash, epoch.Add(time.Hour-time.Microsecond), expiring, a.GetScopes())
	requireNoOwner(t, s, "KeyOwner at expiry", expiring.Hash, epoch.Add(time.Hour))
	requireNoOwner(t, s, "KeyOwner after expiry", expiring.Hash, epoch.Add(2*time.Hour))

	requireOwner(t, s, "KeyOwner before revocation", revoked.Hash, epoch, revoked, a.GetScopes())
	got, err := s.RevokeAPIKey(t.Context(), tenant, id, "revoked", epoch.Add(time.Minute))
	testkit.RequireNoError(t, "RevokeAPIKey", err)
	revoked.RevokeTime = at(epoch.Add(time.Minute))
	requireKey(t, "the revoked key", revoked, got)
	// Revocation is not scheduled: it applies whatever time KeyOwner is asked about.
	requireNoOwner(t, s, "KeyOwner after revocation", revoked.Hash, epoch.Add(2*time.Minute))
	requireNoOwner(t, s, "KeyOwner of a revoked key, asked about before its revocation", revoked.Hash, epoch)
}

func revokeKeepsFirstTime(t *testing.T, s store.Store) {
	tenant := newTenant()
	id := testkit.UniqueID("backend")
	mustCreateAccount(t, s, tenant, id)
	k := mustCreateKey(t, s, newKey(tenant, id, "k1"))

	first, err := s.RevokeAPIKey(t.Context(), tenant, id, "k1", epoch.Add(time.Minute))
	testkit.RequireNoError(t, "RevokeAPIKey", err)
	second, err := s.RevokeAPIKey(t.Context(), tenant, id, "k1", epoch.Add(time.Hour))
	testkit.RequireNoError(t, "RevokeAPIKey again", err)
	k.RevokeTime = at(epoch.Add(time.Minute))
	requireKey(t, "the key after the first revoke", k, first)
	requireKey(t, "the key after the second revoke", k, second)
	keys, err := s.ListAPIKeys(t.Context(), tenant, id, everything)
	testkit.RequireNoError(t, "ListAPIKeys", err)
	requireKey(t, "the listed key", k, keys[0])

	_, err = s.RevokeAPIKey(t.Context(), tenant, id, "k2", epoch)
	testkit.RequireErrorIs(t, "RevokeAPIKey of a missing key", err, store.ErrNotFound)
	_, err = s.RevokeAPIKey(t.Context(), tenant, "nobody", "k1", epoch)
	testkit.RequireErrorIs(t, "RevokeAPIKey of another account's key id", err, store.ErrNotFound)
}

func deletingAccountStopsKeys(t *testing.T, s store.Store) {
	tenant := newTenant()
	id := testkit.UniqueID("backend")
	mustCreateAccount(t, s, tenant, id)
	k1 := mustCreateKey(t, s, newKey(tenant, id, "k1"))
	k2 := mustCreateKey(t, s, newKey(tenant, id, "k2"))
	other := testkit.UniqueID("bystander")
	bystander := mustCreateAccount(t, s, tenant, other)
	kb := mustCreateKey(t, s, newKey(tenant, other, "k1"))

	testkit.RequireNoError(t, "DeleteServiceAccount", s.DeleteServiceAccount(t.Context(), tenant, id, epoch.Add(time.Minute)))
	requireNoOwner(t, s, "KeyOwner of the deleted account's first key", k1.Hash, epoch.Add(time.Hour))
	requireNoOwner(t, s, "KeyOwner of the deleted account's second key", k2.Hash, epoch.Add(time.Hour))
	_, err := s.ListAPIKeys(t.Context(), tenant, id, everything)
	testkit.RequireErrorIs(t, "ListAPIKeys of a deleted account", err, store.ErrNotFound)
	requireOwner(t, s, "KeyOwner of another account's key", kb.Hash, epoch.Add(time.Hour), kb, bystander.GetScopes())

	// An account made again under the same id starts without keys, and the old ones stay dead.
	mustCreateAccount(t, s, tenant, id)
	keys, err := s.ListAPIKeys(t.Context(), tenant, id, everything)
	testkit.RequireNoError(t, "ListAPIKeys of the new account", err)
	testkit.RequireEqual(t, "keys of the new account", 0, len(keys))
	requireNoOwner(t, s, "KeyOwner of an old key after the account was made again", k1.Hash, epoch.Add(time.Hour))
}

func keyCreateConflicts(t *testing.T, s store.Store) {
	tenant := newTenant()
	id := testkit.UniqueID("backend")
	err := s.CreateAPIKey(t.Context(), newKey(tenant, id, "k1"))
	testkit.RequireErrorIs(t, "CreateAPIKey for a missing account", err, store.ErrNotFound)
	_, err = s.ListAPIKeys(t.Context(), tenant, id, everything)
	testkit.RequireErrorIs(t, "ListAPIKeys of a missing account", err, store.ErrNotFound)

	mustCreateAccount(t, s, tenant, id)
	k := mustCreateKey(t, s, newKey(tenant, id, "k1"))
	err = s.CreateAPIKey(t.Context(), newKey(tenant, id, "k1"))
	testkit.RequireErrorIs(t, "CreateAPIKey of a taken key id", err, store.ErrAlreadyExists)
	sameHash := newKey(tenant, id, "k2")
	sameHash.Hash = k.Hash
	err = s.CreateAPIKey(t.Context(), sameHash)
	testkit.RequireErrorIs(t, "CreateAPIKey of a taken hash", err, store.ErrAlreadyExists)

	keys, err := s.ListAPIKeys(t.Context(), tenant, id, everything)
	testkit.RequireNoError(t, "ListAPIKeys", err)
	testkit.RequireEqual(t, "keys after failed creates", 1, len(keys))
	requireKey(t, "the key after failed creates", k, keys[0])
	// Key ids are per account.
	other := testkit.UniqueID("backend")
	mustCreateAccount(t, s, tenant, other)
	mustCreateKey(t, s, newKey(tenant, other, "k1"))
}

func touchingKeysNeverMovesBack(t *testing.T, s store.Store) {
	tenant := newTenant()
	id := testkit.UniqueID("backend")
	a := mustCreateAccount(t, s, tenant, id)
	k1 := mustCreateKey(t, s, newKey(tenant, id, "k1"))
	k2 := mustCreateKey(t, s, newKey(tenant, id, "k2"))
	unknown := sha256.Sum256([]byte("oriel_sk_unknown"))

	testkit.RequireNoError(t, "TouchAPIKeys", s.TouchAPIKeys(t.Context(), map[string]time.Time{
		string(k1.Hash):    epoch.Add(2 * time.Minute),
		string(k2.Hash):    epoch.Add(time.Minute),
		string(unknown[:]): epoch.Add(time.Minute),
	}))
	testkit.RequireNoError(t, "TouchAPIKeys", s.TouchAPIKeys(t.Context(), map[string]time.Time{
		string(k1.Hash): epoch.Add(time.Minute),                      // older: ignored
		string(k2.Hash): epoch.Add(3*time.Minute + time.Microsecond), // later: recorded
	}))
	k1.LastUseTime = at(epoch.Add(2 * time.Minute))
	k2.LastUseTime = at(epoch.Add(3*time.Minute + time.Microsecond))
	keys, err := s.ListAPIKeys(t.Context(), tenant, id, everything)
	testkit.RequireNoError(t, "ListAPIKeys", err)
	requireKey(t, "the first key after touches", k1, keys[0])
	requireKey(t, "the second key after touches", k2, keys[1])
	requireOwner(t, s, "KeyOwner after touches", k2.Hash, epoch.Add(time.Hour), k2, a.GetScopes())
	testkit.RequireNoError(t, "TouchAPIKeys of nothing", s.TouchAPIKeys(t.Context(), nil))
}

func keysPageByID(t *testing.T, s store.Store) {
	tenant := newTenant()
	id, other := testkit.UniqueID("backend"), testkit.UniqueID("backend")
	mustCreateAccount(t, s, tenant, id)
	mustCreateAccount(t, s, tenant, other)
	ids := []string{"c", "9", "a", "10", "b", "a0"}
	for _, kid := range ids {
		mustCreateKey(t, s, newKey(tenant, id, "key"+kid))
		mustCreateKey(t, s, newKey(tenant, other, "key"+kid+"0"))
	}
	var want []string
	for _, kid := range ids {
		want = append(want, "key"+kid)
	}
	requirePaging(t, want, func(p store.Page) ([]*store.APIKey, error) {
		return s.ListAPIKeys(t.Context(), tenant, id, p)
	}, func(k *store.APIKey) string { return k.ID })
}

// bootstrapHash is the hash of a bootstrap secret unique to the calling behaviour.
func bootstrapHash() []byte {
	sum := sha256.Sum256([]byte("oriel_sk_" + testkit.UniqueID("bootstrap")))
	return sum[:]
}

// mustEnsure is EnsureBootstrapKey that fails the test on error or an unexpected change report.
func mustEnsure(t *testing.T, s store.Store, what string, hash []byte, now time.Time, wantChanged bool) {
	t.Helper()
	changed, err := s.EnsureBootstrapKey(t.Context(), hash, "oriel_sk_boot", now)
	testkit.RequireNoError(t, what, err)
	testkit.RequireEqual(t, what+" reports a change", wantChanged, changed)
}

// requireBootstrapOwner fails the test unless hash authenticates as the bootstrap account
// with every scope.
func requireBootstrapOwner(t *testing.T, s store.Store, what string, hash []byte) {
	t.Helper()
	owner, err := s.KeyOwner(t.Context(), hash, epoch.Add(24*time.Hour))
	testkit.RequireNoError(t, what, err)
	testkit.RequireEqual(t, what+": tenant", "", owner.Key.Tenant)
	testkit.RequireEqual(t, what+": account", "bootstrap-admin", owner.Key.ServiceAccount)
	testkit.RequireEqual(t, what+": prefix", "oriel_sk_boot", owner.Key.Prefix)
	if !bytes.Equal(owner.Key.Hash, hash) {
		t.Fatalf("%s: hash %x, want %x", what, owner.Key.Hash, hash)
	}
	testkit.RequireStrings(t, what+": scopes", allScopes, slices.Sorted(slices.Values(owner.Scopes)))
}

// requireOneWorkingBootstrapKey fails the test unless the bootstrap account has exactly one
// unrevoked key, the one with hash.
func requireOneWorkingBootstrapKey(t *testing.T, s store.Store, hash []byte) {
	t.Helper()
	keys, err := s.ListAPIKeys(t.Context(), "", "bootstrap-admin", everything)
	testkit.RequireNoError(t, "ListAPIKeys of the bootstrap account", err)
	var working [][]byte
	for _, k := range keys {
		if k.RevokeTime == nil {
			working = append(working, k.Hash)
		}
	}
	if len(working) != 1 || !bytes.Equal(working[0], hash) {
		t.Fatalf("the bootstrap account's unrevoked keys are %x, want only %x", working, hash)
	}
	has, err := s.HasBootstrapKey(t.Context())
	testkit.RequireNoError(t, "HasBootstrapKey", err)
	testkit.RequireEqual(t, "HasBootstrapKey", true, has)
}

func bootstrapKeyMadeOnce(t *testing.T, s store.Store) {
	has, err := s.HasBootstrapKey(t.Context())
	testkit.RequireNoError(t, "HasBootstrapKey", err)
	testkit.RequireEqual(t, "HasBootstrapKey of a new store", false, has)

	hash := bootstrapHash()
	mustEnsure(t, s, "the first EnsureBootstrapKey", hash, epoch, true)
	requireBootstrapOwner(t, s, "KeyOwner of the bootstrap key", hash)
	requireOneWorkingBootstrapKey(t, s, hash)
	a, err := s.GetServiceAccount(t.Context(), "", "bootstrap-admin")
	testkit.RequireNoError(t, "GetServiceAccount of the bootstrap account", err)
	testkit.RequireEqual(t, "the bootstrap account's name", "serviceAccounts/bootstrap-admin", a.GetName())
	testkit.RequireStrings(t, "the bootstrap account's scopes", allScopes, slices.Sorted(slices.Values(a.GetScopes())))

	mustEnsure(t, s, "EnsureBootstrapKey again", hash, epoch.Add(time.Hour), false)
	requireBootstrapOwner(t, s, "KeyOwner of the bootstrap key after a second ensure", hash)
	requireOneWorkingBootstrapKey(t, s, hash)
}

func bootstrapKeyReplaced(t *testing.T, s store.Store) {
	old, replacement := bootstrapHash(), bootstrapHash()
	mustEnsure(t, s, "EnsureBootstrapKey of the old key", old, epoch, true)
	mustEnsure(t, s, "EnsureBootstrapKey of a new key", replacement, epoch.Add(time.Hour), true)
	requireNoOwner(t, s, "KeyOwner of the replaced bootstrap key", old, epoch.Add(2*time.Hour))
	requireBootstrapOwner(t, s, "KeyOwner of the new bootstrap key", replacement)
	requireOneWorkingBootstrapKey(t, s, replacement)
	mustEnsure(t, s, "EnsureBootstrapKey of the new key again", replacement, epoch.Add(2*time.Hour), false)
}

func bootstrapKeyIsTheOnlyOne(t *testing.T, s store.Store) {
	hash := bootstrapHash()
	mustEnsure(t, s, "EnsureBootstrapKey", hash, epoch, true)
	// An operator adds a key to the bootstrap account through the API…
	extra := mustCreateKey(t, s, newKey("", "bootstrap-admin", "extra"))
	requireOwner(t, s, "KeyOwner of an added bootstrap key", extra.Hash, epoch, extra, allScopes)
	// …and revokes the configured one.
	keys, err := s.ListAPIKeys(t.Context(), "", "bootstrap-admin", everything)
	testkit.RequireNoError(t, "ListAPIKeys", err)
	for _, k := range keys {
		if bytes.Equal(k.Hash, hash) {
			_, err := s.RevokeAPIKey(t.Context(), "", "bootstrap-admin", k.ID, epoch.Add(time.Minute))
			testkit.RequireNoError(t, "RevokeAPIKey of the bootstrap key", err)
		}
	}
	requireNoOwner(t, s, "KeyOwner of the revoked bootstrap key", hash, epoch.Add(time.Hour))

	// The next start with the same configuration makes the configured key the one that works.
	mustEnsure(t, s, "EnsureBootstrapKey after changes", hash, epoch.Add(time.Hour), true)
	requireBootstrapOwner(t, s, "KeyOwner of the configured key", hash)
	requireNoOwner(t, s, "KeyOwner of the added key", extra.Hash, epoch.Add(2*time.Hour))
	requireOneWorkingBootstrapKey(t, s, hash)

	// Deleting the account is undone the same way.
	testkit.RequireNoError(t, "DeleteServiceAccount of the bootstrap account",
		s.DeleteServiceAccount(t.Context(), "", "bootstrap-admin", epoch.Add(2*time.Hour)))
	has, err := s.HasBootstrapKey(t.Context())
	testkit.RequireNoError(t, "HasBootstrapKey", err)
	testkit.RequireEqual(t, "HasBootstrapKey after the account was deleted", false, has)
	mustEnsure(t, s, "EnsureBootstrapKey after the account was deleted", hash, epoch.Add(3*time.Hour), true)
	requireBootstrapOwner(t, s, "KeyOwner of the remade bootstrap key", hash)
}

func bootstrapConcurrent(t *testing.T, s store.Store) {
	warmUp(t, s)
	// The first round races to make the account; later ones race to replace its key.
	for round := range rounds {
		hash := bootstrapHash()
		changed := make([]bool, concurrency)
		errs := make([]error, concurrency)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range concurrency {
			wg.Go(func() {
				<-start
				changed[i], errs[i] = s.EnsureBootstrapKey(t.Context(), hash, "oriel_sk_boot", epoch.Add(time.Duration(round)*time.Hour))
			})
		}
		close(start)
		wg.Wait()
		var changes int
		for i, err := range errs {
			testkit.RequireNoError(t, "a concurrent EnsureBootstrapKey", err)
			if changed[i] {
				changes++
			}
		}
		testkit.RequireEqual(t, "concurrent EnsureBootstrapKey calls that report a change", 1, changes)
		requireBootstrapOwner(t, s, "KeyOwner of the bootstrap key", hash)
		requireOneWorkingBootstrapKey(t, s, hash)
	}
}
