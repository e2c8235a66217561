-- The temporary database of the self-host mode (LEADMINER_TEMP_DATABASE_URL), beside the main one
-- (POSTGRES_DB). Run once by the postgres image when its data volume is created; leadminer
-- creates the tables of both on first use.
CREATE DATABASE leadminer_temp OWNER leadminer;
