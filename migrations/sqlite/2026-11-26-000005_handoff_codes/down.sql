DROP TABLE handoff_codes;
