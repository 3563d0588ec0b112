ALTER TABLE susers DROP COLUMN deactivated_by;
DROP TABLE leases;
DROP TABLE directory_events;
DROP TABLE directory_syncs;
DROP TABLE directory_members;
DROP TABLE directory_departments;
