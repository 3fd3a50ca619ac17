package gateway

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultRatePlan is the plan of tenants whose settings name none, or a plan the edge
// does not know.
const DefaultRatePlan = "default"

// defaultRatePlanSpec is the built-in default plan; `--rate-plan default=…` replaces it.
const defaultRatePlanSpec = "credential:20/s:40,tenant:100/s:200"

// RateLimit is a token bucket: Rate calls per Period on average, Burst at once.
type RateLimit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// String writes the limit as the flag does, e.g. "20/s:40".
func (l RateLimit) String() string {
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[l.Period]
	return fmt.Sprintf("%d/%s:%d", l.Rate, unit, l.Burst)
}

// RatePlan sizes the two buckets a call takes a token from.
type RatePlan struct {
	// Credential is the bucket of one credential (or, for calls without an API key or an
	// embed token, of one client IP).
	Credential RateLimit
	// Tenant is the bucket every call to the tenant shares.
	Tenant RateLimit
}

var (
	ratePlanName  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	rateLimitSpec = regexp.MustCompile(`^([0-9]+)/([smh]):([0-9]+)$`)
)

// parseRatePlans reads `--rate-plan` values, `name=credential:<rate>/<s|m|h>:<burst>,
// tenant:<rate>/<s|m|h>:<burst>`, and adds the built-in default plan unless one of them
// is named default.
func parseRatePlans(specs []string) (map[string]RatePlan, error) {
	plans := map[string]RatePlan{}
	for _, spec := range specs {
		name, body, ok := strings.Cut(strings.TrimSpace(spec), "=")
		if !ok {
			return nil, fmt.Errorf("--rate-plan %q: want name=credential:<rate>/<s|m|h>:<burst>,tenant:<rate>/<s|m|h>:<burst>, e.g. default=%s", spec, defaultRatePlanSpec)
		}
		if !ratePlanName.MatchString(name) {
			return nil, fmt.Errorf("--rate-plan %q: the name %q must be 1 to 32 lowercase letters, digits and hyphens, starting with a letter (as a tenant's settings.plan)", spec, name)
		}
		if _, dup := plans[name]; dup {
			return nil, fmt.Errorf("--rate-plan %q: plan %q is given twice", spec, name)
		}
		plan, err := parseRatePlan(body)
		if err != nil {
			return nil, fmt.Errorf("--rate-plan %q: %w", spec, err)
		}
		plans[name] = plan
	}
	if _, ok := plans[DefaultRatePlan]; !ok {
		plans[DefaultRatePlan], _ = parseRatePlan(defaultRatePlanSpec)
	}
	return plans, nil
}

func parseRatePlan(body string) (RatePlan, error) {
	var plan RatePlan
	seen := map[string]bool{}
	for part := range strings.SplitSeq(body, ",") {
		bucket, spec, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return plan, fmt.Errorf("%q: want credential:<rate>/<s|m|h>:<burst> or tenant:<rate>/<s|m|h>:<burst>", part)
		}
		var limit *RateLimit
		switch bucket {
		case "credential":
			limit = &plan.Credential
		case "tenant":
			limit = &plan.Tenant
		default:
			return plan, fmt.Errorf("%q: unknown bucket %q (want credential or tenant)", part, bucket)
		}
		if seen[bucket] {
			return plan, fmt.Errorf("the %s bucket is given twice", bucket)
		}
		seen[bucket] = true
		m := rateLimitSpec.FindStringSubmatch(spec)
		if m == nil {
			return plan, fmt.Errorf("%q: the limit %q must be <rate>/<s|m|h>:<burst>, e.g. 20/s:40", part, spec)
		}
		rate, err1 := strconv.Atoi(m[1])
		burst, err2 := strconv.Atoi(m[3])
		switch {
		case err1 != nil || rate < 1 || rate > 1_000_000:
			return plan, fmt.Errorf("%q: the rate must be 1 to 1000000", part)
		case err2 != nil || burst < 1 || burst > 1_000_000:
			return plan, fmt.Errorf("%q: the burst must be 1 to 1000000", part)
		}
		*limit = RateLimit{Rate: rate, Burst: burst, Period: map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[m[2]]}
	}
	for _, bucket := range []string{"credential", "tenant"} {
		if !seen[bucket] {
			return plan, fmt.Errorf("the %s bucket is missing (a plan sizes both: credential:…,tenant:…)", bucket)
		}
	}
	return plan, nil
}
