DROP TABLE used_states;
ALTER TABLE sflogin DROP COLUMN phone;
