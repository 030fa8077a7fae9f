package shop

// SplitShareForTest exposes the red packet split to the tests.
var SplitShareForTest = splitShare
