package demo

import (
	"crypto/sha256"
	"encoding/hex"

	"google.golang.org/protobuf/proto"

	contentv1 "github.com/oriel-dev/oriel/gen/pb/oriel/content/v1"
)

const (
	// TemplateID is the demo's template, and the app id in each tenant.
	TemplateID = "sales"
	// SheetID is the template's one sheet.
	SheetID = "overview"
	// RevenueChart is the KPI of total revenue.
	RevenueChart = "revenue"
	// spaceID is the managed space rollouts put apps in.
	spaceID = "templates"
)

// loadScript reads the tenant's own sales table through the tenant's own connection;
// both are variables the rollout (and each reload) sets per tenant.
const loadScript = `// The Oriel demo: each tenant reads its own sales table through its own connection.
CONNECT TO '$(connection)';
sales:
SQL SELECT ` + salesColumns + ` FROM $(table);
`

func pos(x, y, w, h int32) *contentv1.GridPosition {
	return &contentv1.GridPosition{X: x, Y: y, Width: w, Height: h}
}

func sum(field, format string) *contentv1.Measure {
	return &contentv1.Measure{Aggregation: contentv1.Measure_AGGREGATION_SUM, Field: field, NumberFormat: format}
}

// Definition is the sales dashboard: list boxes on region and category, KPIs, revenue by
// month, by region and by category, and a table; reduced by the session's `region`.
func Definition() *contentv1.AppDefinition {
	revenue := func() *contentv1.Measure { m := sum("amount", "#,##0.00"); m.Label = "Revenue"; return m }
	return &contentv1.AppDefinition{
		Sheets: []*contentv1.Sheet{{Id: SheetID, Title: "Sales overview", Charts: []*contentv1.Chart{
			{Id: "region-filter", Title: "Region", Kind: contentv1.Chart_KIND_FILTER, Dimensions: []string{"region"}, Position: pos(0, 0, 4, 6)},
			{Id: "category-filter", Title: "Category", Kind: contentv1.Chart_KIND_FILTER, Dimensions: []string{"category"}, Position: pos(0, 6, 4, 6)},
			{Id: RevenueChart, Title: "Total revenue", Kind: contentv1.Chart_KIND_KPI, Measures: []*contentv1.Measure{revenue()}, Position: pos(4, 0, 7, 4)},
			{Id: "orders", Title: "Orders", Kind: contentv1.Chart_KIND_KPI, Measures: []*contentv1.Measure{
				{Aggregation: contentv1.Measure_AGGREGATION_COUNT, Field: "order_id", Label: "Orders", NumberFormat: "#,##0"}}, Position: pos(11, 0, 6, 4)},
			{Id: "units", Title: "Units sold", Kind: contentv1.Chart_KIND_KPI, Measures: []*contentv1.Measure{sum("quantity", "#,##0")}, Position: pos(17, 0, 7, 4)},
			{Id: "by-month", Title: "Revenue by month", Kind: contentv1.Chart_KIND_LINE, Dimensions: []string{"month"},
				Measures: []*contentv1.Measure{revenue()}, Position: pos(4, 4, 20, 8)},
			{Id: "by-region", Title: "Revenue by region", Kind: contentv1.Chart_KIND_BAR, Dimensions: []string{"region"},
				Measures: []*contentv1.Measure{revenue()}, Position: pos(0, 12, 12, 8)},
			{Id: "by-category", Title: "Revenue by category", Kind: contentv1.Chart_KIND_PIE, Dimensions: []string{"category"},
				Measures: []*contentv1.Measure{revenue()}, Position: pos(12, 12, 12, 8)},
			{Id: "by-product", Title: "Sales by product", Kind: contentv1.Chart_KIND_TABLE, Dimensions: []string{"region", "category", "product"},
				Measures: []*contentv1.Measure{revenue(), sum("quantity", "#,##0")}, Position: pos(0, 20, 24, 10)},
		}}},
		LoadScript: loadScript,
		Reductions: []*contentv1.Reduction{{Field: "region", Attribute: "region"}},
	}
}

// variables are the template's variables, both filled in per tenant.
func variables() []*contentv1.TemplateVariable {
	return []*contentv1.TemplateVariable{
		{Name: "connection", Required: true, Description: "The tenant's connection to its sales data."},
		{Name: "table", Required: true, Description: "The tenant's sales table, e.g. oriel_demo_acme.sales."},
	}
}

// VersionID names the template version after its content, so that a changed dashboard
// gets a new version (and rollout) while an unchanged one is seeded once.
func VersionID() string {
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(&contentv1.TemplateVersion{
		Title: "Sales", Definition: Definition(), Variables: variables()})
	h := sha256.Sum256(b)
	return "v1-" + hex.EncodeToString(h[:])[:10]
}
