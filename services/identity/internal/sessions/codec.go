package sessions

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Both stores validate and normalise the same way, so they behave identically in the
// conformance suite and a session read back from either looks the same.

// maxUserEpoch keeps epoch*2+1 (the packed user state) inside an int64.
const maxUserEpoch = (math.MaxInt64 - 1) / 2

var errInvalid = errors.New("sessions: invalid argument")

// checkTenant refuses tenant ids that would break the Redis hash tag: a brace would
// end or start a different tag, so two tenants' keys could share a slot or a name.
func checkTenant(tenant string) error {
	if tenant == "" || strings.ContainsAny(tenant, "{}") {
		return fmt.Errorf("%w: tenant %q", errInvalid, tenant)
	}
	return nil
}

func checkNonEmpty(what, v string) error {
	if v == "" {
		return fmt.Errorf("%w: empty %s", errInvalid, what)
	}
	return nil
}

func checkPut(tokenHash string, s *Session) error {
	if s == nil {
		return fmt.Errorf("%w: nil session", errInvalid)
	}
	if err := checkTenant(s.Tenant); err != nil {
		return err
	}
	if err := checkNonEmpty("token hash", tokenHash); err != nil {
		return err
	}
	if err := checkNonEmpty("user", s.User); err != nil {
		return err
	}
	if s.ExpireTime.IsZero() {
		return fmt.Errorf("%w: session without expire time", errInvalid)
	}
	return nil
}

// checkEpoch refuses negative values: the "only rises" comparisons (a decimal string
// comparison in Lua) assume non-negative integers.
func checkEpoch(what string, v int64) error {
	if v < 0 {
		return fmt.Errorf("%w: negative %s %d", errInvalid, what, v)
	}
	return nil
}

// packUser folds a user's state into one integer that only rises: the epoch decides,
// and at an equal epoch disabled beats enabled, so a tie can never re-enable a user.
// The caller must raise the epoch with every change of the flag (the SQL store does).
func packUser(u UserState) (int64, error) {
	if u.Epoch < 0 || u.Epoch > maxUserEpoch {
		return 0, fmt.Errorf("%w: user epoch %d out of range", errInvalid, u.Epoch)
	}
	v := u.Epoch * 2
	if u.Disabled {
		v++
	}
	return v, nil
}

func unpackUser(v int64) UserState {
	return UserState{Epoch: v / 2, Disabled: v%2 == 1}
}

// storedTime is a time as both stores keep it: microseconds in UTC. Microseconds are
// exact in a Lua number (a double) for the next few thousand years, which the Redis
// scripts rely on when they compare expiry times.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// normalised returns a deep copy of s as the stores return it: times in storedTime
// form, and empty slices and maps as nil, so that "none" has one representation.
func normalised(s *Session) *Session {
	c := *s
	c.Roles = cloneStrings(s.Roles)
	c.Groups = cloneStrings(s.Groups)
	c.AllowedResources = cloneStrings(s.AllowedResources)
	if len(s.Attributes) > 0 {
		c.Attributes = make(map[string]string, len(s.Attributes))
		for k, v := range s.Attributes {
			c.Attributes[k] = v
		}
	} else {
		c.Attributes = nil
	}
	c.CreateTime = storedTime(s.CreateTime)
	c.ExpireTime = storedTime(s.ExpireTime)
	return &c
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}
