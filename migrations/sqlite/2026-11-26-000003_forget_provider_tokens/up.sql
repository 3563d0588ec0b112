-- Provider access tokens were stored and never read: forget them (threat T-23).
UPDATE sflogin SET token = NULL;
