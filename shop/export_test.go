package shop

// SplitShareForTest exposes the red packet split to the tests.
var SplitShareForTest = splitShare

// SQLiteMigrationsForTest lets a test build a database at an older version.
var SQLiteMigrationsForTest = sqliteMigrations
