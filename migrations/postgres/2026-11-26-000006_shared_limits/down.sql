DROP TABLE login_failures;
DROP TABLE rate_windows;
