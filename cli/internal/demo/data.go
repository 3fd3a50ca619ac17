package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sale is one order line of the sample data.
type Sale struct {
	OrderID  int64
	Date     time.Time
	Region   string
	Category string
	Product  string
	Quantity int64
	// Cents keeps the amount exact; Amount is what the sources hold.
	Cents int64
}

// Amount is the sale's amount in currency units, with two decimals.
func (s Sale) Amount() float64 { return float64(s.Cents) / 100 }

// Month is the sale's month, e.g. "2025-03", the line chart's dimension.
func (s Sale) Month() string { return s.Date.Format("2006-01") }

// dataset is what a tenant sells, where.
type dataset struct {
	rows     int
	regions  []string
	products map[string][]product // by category
}

type product struct {
	name  string
	price int64 // cents
}

// datasets differ per tenant so that the demo shows two customers, not one twice.
var datasets = map[string]dataset{
	"acme": {
		rows:    3000,
		regions: []string{"North", "South", "East", "West"},
		products: map[string][]product{
			"Hardware":  {{"Anvil", 12900}, {"Rocket skates", 34900}, {"Giant magnet", 8900}},
			"Software":  {{"Roadrunner tracker", 19900}, {"Trap planner", 4900}},
			"Services":  {{"Installation", 15000}, {"Support plan", 29900}},
			"Explosive": {{"TNT crate", 5900}, {"Dynamite stick", 900}},
		},
	},
	"globex": {
		rows:    2400,
		regions: []string{"EMEA", "Americas", "APAC"},
		products: map[string][]product{
			"Energy":     {{"Fusion cell", 99900}, {"Solar array", 45000}},
			"Chemicals":  {{"Hydro-solvent", 2900}, {"Catalyst X", 12500}, {"Polymer 7", 6400}},
			"Consulting": {{"Strategy day", 250000}, {"Audit", 120000}},
		},
	},
}

// Tenants are the demo's tenants, in the order they are seeded.
var Tenants = []string{"acme", "globex"}

// Regions are the sales regions of a tenant's sample data.
func Regions(tenant string) []string { return append([]string(nil), datasets[tenant].regions...) }

// dataEnd is the last day of the sample data: fixed, so the data never changes.
var dataEnd = time.Date(2026, time.October, 31, 0, 0, 0, 0, time.UTC)

// Sales generates a tenant's sample data: deterministic (the tenant's id seeds it), a few
// thousand order lines over the two years up to 2026-10-31. Nil for a tenant that is not
// one of Tenants.
func Sales(tenant string) []Sale {
	ds, ok := datasets[tenant]
	if !ok {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(tenant))
	rng := rand.New(rand.NewPCG(h.Sum64(), 2026))
	categories := make([]string, 0, len(ds.products))
	for c := range ds.products {
		categories = append(categories, c)
	}
	// Map order is random; the data must not be.
	slices.Sort(categories)
	start := dataEnd.AddDate(-2, 0, 1)
	days := int(dataEnd.Sub(start).Hours()/24) + 1
	out := make([]Sale, ds.rows)
	for i := range out {
		// Later days sell a little more: a trend worth a line chart.
		day := int(math.Sqrt(rng.Float64()) * float64(days))
		if day >= days {
			day = days - 1
		}
		category := categories[rng.IntN(len(categories))]
		p := ds.products[category][rng.IntN(len(ds.products[category]))]
		qty := int64(1 + rng.IntN(9))
		// Discounts of 0 to 20 %, to the cent.
		cents := p.price * qty * int64(100-rng.IntN(21)) / 100
		out[i] = Sale{
			OrderID:  int64(100000 + i),
			Date:     start.AddDate(0, 0, day),
			Region:   ds.regions[rng.IntN(len(ds.regions))],
			Category: category,
			Product:  p.name,
			Quantity: qty,
			Cents:    cents,
		}
	}
	return out
}

// TotalCents is the sum of the sales' amounts in cents, of every region when regions is
// empty, else of those regions only.
func TotalCents(sales []Sale, regions ...string) int64 {
	var sum int64
	for _, s := range sales {
		if len(regions) == 0 || slices.Contains(regions, s.Region) {
			sum += s.Cents
		}
	}
	return sum
}

// salesColumns are the columns of the sales table, in both sources, as the load script
// reads them.
const salesColumns = "order_id, order_date, month, region, category, product, quantity, amount"

// salesJSON is a tenant's sample data as the embedded source serves it: a JSON array of
// objects, one per sale, numbers as JSON numbers.
func salesJSON(sales []Sale) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range sales {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"order_id":%d,"order_date":%q,"month":%q,"region":%s,"category":%s,"product":%s,"quantity":%d,"amount":%s}`,
			s.OrderID, s.Date.Format(time.DateOnly), s.Month(), jsonString(s.Region), jsonString(s.Category), jsonString(s.Product),
			s.Quantity, centsText(s.Cents))
	}
	b.WriteByte(']')
	return []byte(b.String())
}

func jsonString(s string) string {
	b, _ := json.Marshal(s) // a string always marshals
	return string(b)
}

// centsText writes cents as a decimal with two places, exactly.
func centsText(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// schemaOf is the PostgreSQL schema holding a tenant's sample data.
func schemaOf(tenant string) string { return "oriel_demo_" + tenant }

// postgresTimeout bounds reaching the sample database, so that `oriel dev --demo` on a
// machine without one falls back to the embedded source at once.
const postgresTimeout = 3 * time.Second

// connectPostgres connects to the sample database, or says why it cannot.
func connectPostgres(ctx context.Context, databaseURL string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL: %w", err)
	}
	cfg.ConnectTimeout = postgresTimeout
	ctx, cancel := context.WithTimeout(ctx, postgresTimeout)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// loadPostgres (re)writes a tenant's sales table in its own schema, in one transaction,
// so a second run replaces the data rather than adding to it.
func loadPostgres(ctx context.Context, conn *pgx.Conn, tenant string) error {
	schema := pgx.Identifier{schemaOf(tenant)}.Sanitize()
	table := pgx.Identifier{schemaOf(tenant), "sales"}.Sanitize()
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, stmt := range []string{
			"CREATE SCHEMA IF NOT EXISTS " + schema,
			"DROP TABLE IF EXISTS " + table,
			"CREATE TABLE " + table + ` (
				order_id bigint PRIMARY KEY,
				order_date date NOT NULL,
				month text NOT NULL,
				region text NOT NULL,
				category text NOT NULL,
				product text NOT NULL,
				quantity integer NOT NULL,
				amount numeric(12,2) NOT NULL)`,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		sales := Sales(tenant)
		_, err := tx.CopyFrom(ctx, pgx.Identifier{schemaOf(tenant), "sales"},
			[]string{"order_id", "order_date", "month", "region", "category", "product", "quantity", "amount"},
			pgx.CopyFromSlice(len(sales), func(i int) ([]any, error) {
				s := sales[i]
				return []any{s.OrderID, s.Date, s.Month(), s.Region, s.Category, s.Product, int32(s.Quantity), centsText(s.Cents)}, nil
			}))
		return err
	})
}

// postgresParams is where the datagateway reaches the sample database: the database URL's
// host, port, database, user and password (the latter as a credential).
type postgresParams struct {
	host, database, user, password string
	port                           int32
	sslDisable                     bool
}

func parsePostgresURL(raw string) (postgresParams, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() == "" {
		return postgresParams{}, fmt.Errorf("the demo database URL must look like postgres://user:password@host:5432/database")
	}
	p := postgresParams{host: u.Hostname(), port: 5432, database: strings.TrimPrefix(u.Path, "/"), user: u.User.Username()}
	if p.database == "" {
		p.database = "postgres"
	}
	if p.user == "" {
		p.user = "postgres"
	}
	p.password, _ = u.User.Password()
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil {
			return postgresParams{}, fmt.Errorf("the demo database URL has an invalid port %q", port)
		}
		p.port = int32(n)
	}
	p.sslDisable = u.Query().Get("sslmode") == "disable"
	return p, nil
}
