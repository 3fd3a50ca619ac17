package jwtauth

import (
	"crypto"
	"testing"

	identityv1 "github.com/oriel-dev/oriel/gen/pb/oriel/identity/v1"
)

// BenchmarkVerify measures JWT verification alone, with a warm provider cache: the floor
// the identity service's ExchangeToken benchmark is compared against.
func BenchmarkVerify(b *testing.B) {
	k := testKeys()
	for _, tc := range []struct {
		name string
		alg  identityv1.Algorithm
		key  crypto.Signer
	}{
		{"ES256", identityv1.Algorithm_ALGORITHM_ES256, k.p256},
		{"RS256", identityv1.Algorithm_ALGORITHM_RS256, k.rsa},
	} {
		b.Run(tc.name, func(b *testing.B) {
			clock := newFakeClock()
			v := newTestVerifier(clock, false)
			providers := []*identityv1.IdentityProvider{newProvider(b, withKeys(pemKey(b, "k1", tc.alg, tc.key)))}
			token := mint(b, algorithmByEnum(tc.alg).name, "k1", tc.key, claims(clock.Now()))
			if _, err := v.Verify(bg, token, providers); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(bg, token, providers); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
		})
	}
}
