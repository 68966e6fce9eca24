// Package doccheck holds the test that keeps the usage samples in the
// package comments of the module honest: it extracts every code block of
// every doc.go comment and type-checks it against the module's packages.
// It has no API.
package doccheck
