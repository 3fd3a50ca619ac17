// Package deploy_test checks docker-compose.yml and the Dockerfile against the binaries
// they run. No Docker engine runs in CI, so the file is loaded and validated with
// compose-go, and every setting is checked against what the binaries really accept.
package deploy_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// secrets are what the compose file refuses to start without; never defaults in the file.
var secrets = []string{"ORIEL_BOOTSTRAP_ADMIN_KEY=oriel_sk_composetestcomposetestcomposetest01", "POSTGRES_PASSWORD=compose-test",
	"ORIEL_KEY_ENCRYPTION_KEYS=k1:Y29tcG9zZS10ZXN0LWtleS1jb21wb3NlLXRlc3QtMDE="}

func loadProject(t *testing.T, env []string, profiles ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot(t), "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot(t)), cli.WithEnv(env), cli.WithName("oriel"), cli.WithProfiles(profiles))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func TestComposeRefusesToStartWithoutItsSecrets(t *testing.T) {
	t.Parallel()
	for _, missing := range secrets {
		name := strings.SplitN(missing, "=", 2)[0]
		t.Run(name, func(t *testing.T) {
			var env []string
			for _, s := range secrets {
				if s != missing {
					env = append(env, s)
				}
			}
			_, err := loadProject(t, env)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("loading without %s: %v, want an error naming it", name, err)
			}
		})
	}
}

// binaries returns the names of the binaries the Dockerfile builds (the last element of
// each ./…/cmd/<name> package it compiles), checking each package exists.
func binaries(t *testing.T, root string) map[string]string {
	t.Helper()
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`\./([\w/]+/cmd/([\w-]+))`).FindAllStringSubmatch(string(dockerfile), -1) {
		if _, err := os.Stat(filepath.Join(root, m[1], "main.go")); err != nil {
			t.Errorf("the Dockerfile builds ./%s, which has no main.go", m[1])
		}
		out[m[2]] = "./" + m[1]
	}
	return out
}

// flagHelp returns `<binary> <command> --help`, built from the repository.
func flagHelp(t *testing.T, root, pkg, command string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bin")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", bin, pkg)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	out, err := exec.Command(bin, command, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s --help: %v\n%s", pkg, command, err, out)
	}
	return string(out)
}

func TestComposeRunsTheStackTheBinariesAccept(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	// The agent needs an enrollment token made with the running stack: it is in a
	// profile of its own, so that a first `docker compose up` does not start it.
	p, err := loadProject(t, secrets)
	if err != nil {
		t.Fatalf("docker-compose.yml does not load: %v", err)
	}
	want := []string{"content", "content-migrate", "datagateway", "datagateway-migrate", "demo", "gateway", "identity", "identity-migrate",
		"postgres", "redis", "tenant", "tenant-migrate"}
	if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), want) {
		t.Fatalf("services without a profile %v, want %v", got, want)
	}
	p, err = loadProject(t, append(slices.Clone(secrets), "ORIEL_AGENT_ENROLLMENT_TOKEN=oriel_ae_composetest"), "agent")
	if err != nil {
		t.Fatalf("docker-compose.yml does not load with the agent profile: %v", err)
	}
	want = append(want, "agent")
	slices.Sort(want)
	if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), want) {
		t.Fatalf("services with the agent profile %v, want %v", got, want)
	}
	bins := binaries(t, root)

	// Every Oriel service runs a binary from the one image, with settings it accepts.
	required := map[string][]string{
		"identity-migrate":    {"ORIEL_DATABASE_URL"},
		"identity":            {"ORIEL_DATABASE_URL", "ORIEL_REDIS_URL", "ORIEL_BOOTSTRAP_ADMIN_KEY", "ORIEL_GRPC_ADDR"},
		"tenant-migrate":      {"ORIEL_DATABASE_URL"},
		"tenant":              {"ORIEL_DATABASE_URL", "ORIEL_IDENTITY_ADDR", "ORIEL_GRPC_ADDR"},
		"content-migrate":     {"ORIEL_DATABASE_URL"},
		"content":             {"ORIEL_DATABASE_URL", "ORIEL_IDENTITY_ADDR", "ORIEL_TENANT_ADDR", "ORIEL_SERVICE_API_KEY", "ORIEL_GRPC_ADDR"},
		"datagateway-migrate": {"ORIEL_DATABASE_URL"},
		"datagateway":         {"ORIEL_DATABASE_URL", "ORIEL_IDENTITY_ADDR", "ORIEL_KEY_ENCRYPTION_KEYS", "ORIEL_GRPC_ADDR"},
		"agent":               {"ORIEL_AGENT_SERVER", "ORIEL_AGENT_ENROLLMENT_TOKEN", "ORIEL_AGENT_CREDENTIAL_FILE"},
		"gateway": {"ORIEL_ADDR", "ORIEL_TENANT_ADDR", "ORIEL_IDENTITY_ADDR", "ORIEL_CONTENT_ADDR", "ORIEL_DATAGATEWAY_ADDR",
			"ORIEL_REDIS_URL", "ORIEL_SERVICE_API_KEY"},
		"demo": {"ORIEL_DEMO", "ORIEL_DEMO_GATEWAY_URL", "ORIEL_DEMO_SERVER_URL", "ORIEL_DEMO_ADDR", "ORIEL_DEMO_DATABASE_URL",
			"ORIEL_BOOTSTRAP_ADMIN_KEY"},
	}
	helps := map[string]string{}
	for name, needs := range required {
		svc := p.Services[name]
		if svc.Build == nil || svc.Build.Context != root || svc.Image != "oriel:local" {
			t.Errorf("%s: not built from the repository's Dockerfile as oriel:local (build %+v, image %q)", name, svc.Build, svc.Image)
		}
		if len(svc.Entrypoint) != 1 || !strings.HasPrefix(svc.Entrypoint[0], "/usr/local/bin/") || len(svc.Command) != 1 {
			t.Fatalf("%s: entrypoint %v command %v, want one binary and one subcommand", name, svc.Entrypoint, svc.Command)
		}
		bin := strings.TrimPrefix(svc.Entrypoint[0], "/usr/local/bin/")
		pkg, ok := bins[bin]
		if !ok {
			t.Fatalf("%s runs %s, which the Dockerfile does not build (it builds %v)", name, bin, bins)
		}
		key := bin + " " + svc.Command[0]
		if helps[key] == "" {
			helps[key] = flagHelp(t, root, pkg, svc.Command[0])
		}
		for env := range svc.Environment {
			if strings.HasPrefix(env, "ORIEL_") && !strings.Contains(helps[key], "($"+env+")") {
				t.Errorf("%s sets %s, which `%s --help` does not list", name, env, key)
			}
		}
		for _, env := range needs {
			if v := svc.Environment[env]; v == nil || *v == "" {
				t.Errorf("%s lacks %s", name, env)
			}
		}
	}

	// The wiring: migrations before the service, the database where the URL points, the
	// edge at the tenant service's gRPC port, published where it listens.
	dependsOn := func(svc, on, condition string) {
		if d, ok := p.Services[svc].DependsOn[on]; !ok || d.Condition != condition {
			t.Errorf("%s should depend on %s (%s), got %+v", svc, on, condition, p.Services[svc].DependsOn)
		}
	}
	dependsOn("identity-migrate", "postgres", types.ServiceConditionHealthy)
	dependsOn("identity", "identity-migrate", types.ServiceConditionCompletedSuccessfully)
	dependsOn("identity", "redis", types.ServiceConditionHealthy)
	dependsOn("tenant-migrate", "postgres", types.ServiceConditionHealthy)
	dependsOn("tenant", "tenant-migrate", types.ServiceConditionCompletedSuccessfully)
	dependsOn("tenant", "identity", types.ServiceConditionStarted)
	dependsOn("gateway", "tenant", types.ServiceConditionStarted)
	dependsOn("gateway", "identity", types.ServiceConditionStarted)
	dependsOn("gateway", "content", types.ServiceConditionStarted)
	dependsOn("content-migrate", "postgres", types.ServiceConditionHealthy)
	dependsOn("content", "content-migrate", types.ServiceConditionCompletedSuccessfully)
	dependsOn("datagateway-migrate", "postgres", types.ServiceConditionHealthy)
	dependsOn("datagateway", "datagateway-migrate", types.ServiceConditionCompletedSuccessfully)
	dependsOn("datagateway", "identity", types.ServiceConditionStarted)
	dependsOn("gateway", "datagateway", types.ServiceConditionStarted)
	dependsOn("agent", "datagateway", types.ServiceConditionStarted)
	dependsOn("gateway", "redis", types.ServiceConditionStarted)
	dependsOn("demo", "gateway", types.ServiceConditionStarted)
	dependsOn("demo", "postgres", types.ServiceConditionHealthy)
	for _, name := range []string{"postgres", "redis"} {
		if p.Services[name].HealthCheck == nil {
			t.Errorf("%s has no healthcheck, so nothing can wait for it", name)
		}
	}
	dbURL, err := url.Parse(*p.Services["tenant"].Environment["ORIEL_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	pg := p.Services["postgres"].Environment
	if dbURL.Hostname() != "postgres" || dbURL.User.Username() != *pg["POSTGRES_USER"] || dbURL.Path != "/"+*pg["POSTGRES_DB"] {
		t.Errorf("ORIEL_DATABASE_URL %s does not point at the postgres service's user and database", dbURL.Redacted())
	}
	if pass, _ := dbURL.User.Password(); pass != *pg["POSTGRES_PASSWORD"] {
		t.Error("ORIEL_DATABASE_URL's password is not POSTGRES_PASSWORD")
	}
	for _, dial := range []struct{ from, env, to string }{
		{"gateway", "ORIEL_TENANT_ADDR", "tenant"},
		{"gateway", "ORIEL_IDENTITY_ADDR", "identity"},
		{"tenant", "ORIEL_IDENTITY_ADDR", "identity"},
		{"gateway", "ORIEL_CONTENT_ADDR", "content"},
		{"content", "ORIEL_IDENTITY_ADDR", "identity"},
		{"content", "ORIEL_TENANT_ADDR", "tenant"},
		{"gateway", "ORIEL_DATAGATEWAY_ADDR", "datagateway"},
		{"datagateway", "ORIEL_IDENTITY_ADDR", "identity"},
		{"agent", "ORIEL_AGENT_SERVER", "datagateway"},
	} {
		got, listen := *p.Services[dial.from].Environment[dial.env], *p.Services[dial.to].Environment["ORIEL_GRPC_ADDR"]
		if got != dial.to+listen {
			t.Errorf("%s dials %s at %s, but it listens on %s", dial.from, dial.to, got, listen)
		}
	}
	// The agent keeps its credential where a volume outlives the container, so that a
	// restart needs no new enrollment token.
	agent := p.Services["agent"]
	credential := *agent.Environment["ORIEL_AGENT_CREDENTIAL_FILE"]
	kept := false
	for _, v := range agent.Volumes {
		if v.Type == types.VolumeTypeVolume && strings.HasPrefix(credential, strings.TrimSuffix(v.Target, "/")+"/") {
			kept = true
		}
	}
	if !kept {
		t.Errorf("the agent's credential file %s is not in a named volume: %+v", credential, agent.Volumes)
	}
	if redisURL, _ := url.Parse(*p.Services["identity"].Environment["ORIEL_REDIS_URL"]); redisURL == nil || redisURL.Hostname() != "redis" {
		t.Errorf("identity's ORIEL_REDIS_URL does not point at the redis service")
	}
	published := false
	for _, port := range p.Services["gateway"].Ports {
		if ":"+strings.TrimSpace(port.Published) == ":8080" && ":"+strconv.FormatUint(uint64(port.Target), 10) == *p.Services["gateway"].Environment["ORIEL_ADDR"] {
			published = true
		}
	}
	if !published {
		t.Errorf("gateway does not publish 8080 where it listens: %+v", p.Services["gateway"].Ports)
	}
	if redisURL, _ := url.Parse(*p.Services["gateway"].Environment["ORIEL_REDIS_URL"]); redisURL == nil || redisURL.Hostname() != "redis" {
		t.Errorf("gateway's ORIEL_REDIS_URL does not point at the redis service")
	}
	if key := p.Services["gateway"].Environment["ORIEL_SERVICE_API_KEY"]; key == nil || *key != *p.Services["identity"].Environment["ORIEL_BOOTSTRAP_ADMIN_KEY"] {
		t.Errorf("gateway's ORIEL_SERVICE_API_KEY is not the admin key, so it cannot read tenants' allowed origins")
	}

	// The demo seeds through the gateway where it listens, writes its sample data to the
	// postgres service, and publishes its page where it listens, at the origin the
	// browser uses, with the gateway as the browser reaches it.
	demo := p.Services["demo"].Environment
	if got, want := *demo["ORIEL_DEMO_GATEWAY_URL"], "http://gateway"+*p.Services["gateway"].Environment["ORIEL_ADDR"]; got != want {
		t.Errorf("demo seeds through %s, but the gateway listens at %s", got, want)
	}
	if got := *demo["ORIEL_DEMO_SERVER_URL"]; got != "http://localhost:8080" {
		t.Errorf("demo's page loads the embed client from %s, want the published gateway http://localhost:8080", got)
	}
	if demoDB, _ := url.Parse(*demo["ORIEL_DEMO_DATABASE_URL"]); demoDB == nil || demoDB.Hostname() != "postgres" {
		t.Errorf("demo's ORIEL_DEMO_DATABASE_URL does not point at the postgres service")
	}
	demoPublished := false
	for _, port := range p.Services["demo"].Ports {
		if strings.TrimSpace(port.Published) == strconv.FormatUint(uint64(port.Target), 10) &&
			":"+strconv.FormatUint(uint64(port.Target), 10) == *demo["ORIEL_DEMO_ADDR"] {
			demoPublished = true
		}
	}
	if !demoPublished {
		t.Errorf("demo does not publish its page on the same port it listens on (the page's origin is that port): %+v", p.Services["demo"].Ports)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// The gateway embeds the embed client at build time: an image built without it would
// answer 503 for /embed/v1/oriel-embed.js, and the compose demo would show nothing.
func TestDockerfileBuildsTheEmbedClientIntoTheGateway(t *testing.T) {
	root := repoRoot(t)
	dockerfile, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(dockerfile)
	for _, want := range []string{
		"COPY gateway/embedclient/web/package.json gateway/embedclient/web/package-lock.json",
		"RUN npm ci",
		"RUN npm run build",
		"COPY --from=embed-client /src/gateway/embedclient/dist/ gateway/embedclient/dist/",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	// The copy must come before the Go build that embeds it.
	if strings.Index(text, "COPY --from=embed-client") > strings.Index(text, "go build") {
		t.Error("the Dockerfile builds the binaries before it copies the embed client in")
	}
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	// A developer's node_modules (another platform's esbuild) must not reach the build.
	if !strings.Contains(string(ignore), "**/node_modules") {
		t.Error(".dockerignore does not keep node_modules out of the build context")
	}
}
