-- The schema registry's own database (the local stack creates it in `stack up`).
CREATE DATABASE apicurio;
