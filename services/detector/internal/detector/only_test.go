package detector

import (
	"reflect"
	"slices"
)

// onlyRules turns every registered rule off but the named ones, so a test
// about the engine does not change meaning as rules are added.
func onlyRules(c *Config, codes ...string) {
	v := reflect.ValueOf(&c.Rules).Elem()
	for i := range v.NumField() {
		if !slices.Contains(codes, v.Type().Field(i).Tag.Get("koanf")) {
			v.Field(i).FieldByName("On").SetBool(false)
		}
	}
}
