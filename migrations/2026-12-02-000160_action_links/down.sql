DROP TABLE action_links_used;
