package detector

import (
	"reflect"
	"slices"
	"testing"
)

// onlyRules turns off every registered rule but keep, so a test of the
// engine's behaviour does not change as rules are added. Every rule's
// section has `On bool koanf:"enabled"` (internal/rules/doc.go).
func onlyRules(t testing.TB, cfg *Config, keep ...string) {
	t.Helper()
	v := reflect.ValueOf(&cfg.Rules).Elem()
	for i := range v.NumField() {
		if slices.Contains(keep, v.Type().Field(i).Tag.Get("koanf")) {
			continue
		}
		on := v.Field(i).FieldByName("On")
		if !on.IsValid() || on.Kind() != reflect.Bool {
			t.Fatalf("rule section %s has no On field", v.Type().Field(i).Name)
		}
		on.SetBool(false)
	}
}
