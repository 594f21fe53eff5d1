DROP TABLE confirmations;
DROP TABLE activity;
