DROP INDEX notifications_by_run;
